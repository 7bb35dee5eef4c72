# Reference values for bordin.instruments: prorated totals with reverse keys, and the
# Jacobson-Truax reliable change index with its clinical-significance category,
# computed independently in base R.
#
# Writes tests/instruments/fixtures/instruments_reference.json with the R and package
# versions, the generated responses (so the tests need no R) and the results.
#
# Run from the repository root:  Rscript scripts/r/instruments_reference.R
suppressPackageStartupMessages(library(jsonlite))

set.seed(20240611)

# ------------------------------------------------------------ CORE-10 totals
# 10 items 0-4; items 2 and 3 reverse-keyed (4 - x); up to 1 missing item prorated:
# total = mean(answered scored items) * 10; more than 1 missing -> NA.
n <- 200
x <- matrix(sample(0:4, n * 10, replace = TRUE), nrow = n)
miss <- sample(c(0, 1, 2), n, replace = TRUE, prob = c(0.7, 0.2, 0.1))
for (i in seq_len(n)) if (miss[i] > 0) x[i, sample(1:10, miss[i])] <- NA
scored <- x
scored[, c(2, 3)] <- 0 + 4 - scored[, c(2, 3)]
nmiss <- rowSums(is.na(scored))
core10_total <- rowMeans(scored, na.rm = TRUE) * 10
core10_total[nmiss > 1] <- NA

# ------------------------------------------------------------ WAI-SR subscales
# 12 items 1-5, sums; subscales task 1,2,10,12; bond 3,5,7,9; goal 4,6,8,11.
w <- matrix(sample(1:5, n * 12, replace = TRUE), nrow = n)
wai <- data.frame(
  total = rowSums(w),
  task = rowSums(w[, c(1, 2, 10, 12)]),
  bond = rowSums(w[, c(3, 5, 7, 9)]),
  goal = rowSums(w[, c(4, 6, 8, 11)])
)

# ------------------------------------------------------------ reliable change
# Jacobson & Truax (1991): SE = SD * sqrt(1 - r); S_diff = sqrt(2 * SE^2);
# RC = (x2 - x1) / S_diff; reliable if |RC| > 1.96. CORE-10 norms SD 7.7, r .90,
# cutoff 11, higher is worse.
sd <- 7.7; r <- 0.90; cutoff <- 11
se <- sd * sqrt(1 - r)
s_diff <- sqrt(2 * se^2)
x1 <- sample(0:40, n, replace = TRUE)
x2 <- sample(0:40, n, replace = TRUE)
rc <- (x2 - x1) / s_diff
reliable <- abs(rc) > 1.96
category <- ifelse(!reliable, "unchanged",
  ifelse(x2 > x1, "deteriorated",
    ifelse(x1 >= cutoff & x2 < cutoff, "recovered", "improved")))

out <- list(
  R = R.version.string,
  packages = list(jsonlite = as.character(packageVersion("jsonlite"))),
  core10 = list(responses = x, total = core10_total),
  wai_sr = list(responses = w, scores = wai),
  rci = list(sd = sd, r = r, se = se, s_diff = s_diff, before = x1, after = x2,
             rc = rc, reliable = reliable, category = category)
)
write_json(out, "tests/instruments/fixtures/instruments_reference.json",
           digits = NA, na = "null", auto_unbox = TRUE, matrix = "rowmajor", pretty = FALSE)
cat("wrote tests/instruments/fixtures/instruments_reference.json\n")
