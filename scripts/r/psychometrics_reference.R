# Reference values for bordin.stats.psychometrics.
#
# Writes tests/stats/psychometrics/fixtures/psychometrics_reference.json with the
# R and package versions, the data sets used (so the tests need no R) and the
# results of psych::alpha, psych::ICC and lavaan (ML) on them.
#
# Run from the repository root:  Rscript scripts/r/psychometrics_reference.R
suppressPackageStartupMessages({
  library(psych)
  library(lavaan)
  library(jsonlite)
})

out <- list(
  R = R.version.string,
  packages = list(
    psych = as.character(packageVersion("psych")),
    lavaan = as.character(packageVersion("lavaan")),
    jsonlite = as.character(packageVersion("jsonlite"))
  )
)

# ---------------------------------------------------------------- data sets
data(bfi, package = "psych")
bfi_a <- na.omit(bfi[, c("A2", "A3", "A4", "A5")])
bfi_ac <- na.omit(bfi[, c("A2", "A3", "A4", "A5", "C1", "C2", "C3")])

set.seed(20231)
n <- 400
# Alliance-like items: goal, task, bond, 4 items each, correlated factors.
Phi <- matrix(c(1, .75, .6, .75, 1, .65, .6, .65, 1), 3)
F <- MASS::mvrnorm(n, rep(0, 3), Phi)
lam <- c(.8, .7, .75, .6)
alliance <- data.frame(matrix(NA_real_, n, 12))
names(alliance) <- c(paste0("goal", 1:4), paste0("task", 1:4), paste0("bond", 1:4))
for (f in 1:3) for (j in 1:4) {
  alliance[, (f - 1) * 4 + j] <- round(4 + lam[j] * F[, f] + rnorm(n, 0, sqrt(1 - lam[j]^2)), 4)
}
# Finsrud-like two factors: confidence in the therapist / in the treatment.
Phi2 <- matrix(c(1, .55, .55, 1), 2)
G <- MASS::mvrnorm(n, c(0, 0), Phi2)
finsrud <- data.frame(matrix(NA_real_, n, 8))
names(finsrud) <- c(paste0("therapist", 1:4), paste0("treatment", 1:4))
lam2 <- c(.85, .8, .7, .65)
for (f in 1:2) for (j in 1:4) {
  finsrud[, (f - 1) * 4 + j] <- round(lam2[j] * G[, f] + rnorm(n, 0, sqrt(1 - lam2[j]^2)), 4)
}
# Ratings for inter-rater reliability: 30 targets x 4 raters with rater bias.
ratings <- matrix(NA_real_, 30, 4)
tgt <- rnorm(30, 0, 1)
bias <- c(0, .3, -.2, .5)
for (j in 1:4) ratings[, j] <- round(5 + tgt + bias[j] + rnorm(30, 0, .6), 3)
colnames(ratings) <- paste0("rater", 1:4)
# Shrout & Fleiss (1979) Table 2: 6 targets rated by 4 judges.
sf <- matrix(c(9, 2, 5, 8, 6, 1, 3, 2, 8, 4, 6, 8, 7, 1, 2, 6, 10, 5, 6, 9, 6, 2, 4, 7),
             ncol = 4, byrow = TRUE)
colnames(sf) <- paste0("J", 1:4)

hs <- HolzingerSwineford1939[, paste0("x", 1:9)]

out$data <- list(
  bfi_a = bfi_a, bfi_ac = bfi_ac, alliance = alliance, finsrud = finsrud,
  ratings = as.data.frame(ratings), shrout_fleiss = as.data.frame(sf),
  holzinger = hs
)

# ---------------------------------------------------------------- alpha
alpha_ref <- function(x) {
  a <- psych::alpha(x, check.keys = FALSE, warnings = FALSE)
  list(
    n = nrow(x),
    raw_alpha = a$total$raw_alpha, std_alpha = a$total$std.alpha,
    ase = a$total$ase, average_r = a$total$average_r,
    feldt_lower = a$feldt$lower.ci[[1]], feldt_upper = a$feldt$upper.ci[[1]],
    alpha_drop = unname(a$alpha.drop$raw_alpha),
    r_drop = unname(a$item.stats$r.drop)
  )
}
out$alpha <- list(bfi_a = alpha_ref(bfi_a), alliance = alpha_ref(alliance))

# ---------------------------------------------------------------- ICC
icc_ref <- function(x) {
  r <- psych::ICC(x, lmer = FALSE)$results
  list(
    type = as.character(r$type), ICC = r$ICC, F = r$F, df1 = r$df1, df2 = r$df2,
    p = r$p, lower = r[["lower bound"]], upper = r[["upper bound"]]
  )
}
out$icc <- list(ratings = icc_ref(ratings), shrout_fleiss = icc_ref(sf))

# ---------------------------------------------------------------- omega (lavaan, ML)
omega_one <- function(x) {
  items <- names(x)
  k <- length(items)
  lab <- paste0("l", seq_len(k)); th <- paste0("t", seq_len(k))
  m <- paste0("f =~ ", paste0(lab, "*", items, collapse = " + "), "\n",
              paste0(items, " ~~ ", th, "*", items, collapse = "\n"), "\n",
              "omega := (", paste(lab, collapse = "+"), ")^2 / ((",
              paste(lab, collapse = "+"), ")^2 + ", paste(th, collapse = "+"), ")")
  fit <- cfa(m, data = x, std.lv = TRUE, estimator = "ML")
  pe <- parameterEstimates(fit)
  o <- pe[pe$lhs == "omega", ]
  list(omega = o$est, se = o$se, loadings = pe$est[pe$op == "=~"],
       residuals = pe$est[pe$op == "~~" & pe$lhs == pe$rhs])
}
omega_bifactor <- function(x, groups) {
  items <- names(x)
  gl <- paste0("g", seq_along(items))
  lines <- paste0("G =~ ", paste0(gl, "*", items, collapse = " + "))
  sl_all <- character(0)
  for (s in names(groups)) {
    its <- groups[[s]]
    sl <- paste0(s, "_l", seq_along(its))
    sl_all <- c(sl_all, paste0("(", paste(sl, collapse = "+"), ")^2"))
    lines <- c(lines, paste0(s, " =~ ", paste0(sl, "*", its, collapse = " + ")))
  }
  th <- paste0("t", seq_along(items))
  lines <- c(lines, paste0(items, " ~~ ", th, "*", items))
  gsum <- paste0("(", paste(gl, collapse = "+"), ")^2")
  total <- paste(c(gsum, sl_all, th), collapse = " + ")
  lines <- c(lines,
             paste0("omega_h := ", gsum, " / (", total, ")"),
             paste0("omega_t := (", paste(c(gsum, sl_all), collapse = " + "), ") / (", total, ")"))
  fit <- cfa(paste(lines, collapse = "\n"), data = x, std.lv = TRUE, orthogonal = TRUE,
             estimator = "ML")
  pe <- parameterEstimates(fit)
  list(omega_h = pe$est[pe$lhs == "omega_h"], omega_h_se = pe$se[pe$lhs == "omega_h"],
       omega_t = pe$est[pe$lhs == "omega_t"], omega_t_se = pe$se[pe$lhs == "omega_t"],
       general = pe$est[pe$op == "=~" & pe$lhs == "G"],
       loglik = as.numeric(logLik(fit)))
}
out$omega <- list(
  bfi_ac = omega_one(bfi_ac),
  alliance = omega_one(alliance),
  alliance_bifactor = omega_bifactor(alliance, list(
    goal = paste0("goal", 1:4), task = paste0("task", 1:4), bond = paste0("bond", 1:4)))
)

# ---------------------------------------------------------------- CFA (lavaan, ML)
cfa_ref <- function(model, x) {
  fit <- cfa(model, data = x, estimator = "ML")
  pe <- parameterEstimates(fit, standardized = TRUE)
  l <- pe[pe$op == "=~", ]
  fm <- fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"))
  fs <- lavPredict(fit, method = "regression")
  list(
    loadings = list(factor = l$lhs, item = l$rhs, est = l$est, se = l$se, std = l$std.all),
    variances = list(lhs = pe$lhs[pe$op == "~~"], rhs = pe$rhs[pe$op == "~~"],
                     est = pe$est[pe$op == "~~"]),
    fit = as.list(fm),
    factor_scores = as.data.frame(fs)
  )
}
out$cfa <- list(
  holzinger = cfa_ref("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", hs),
  alliance = cfa_ref(paste0("goal =~ ", paste0("goal", 1:4, collapse = "+"), "\n",
                            "task =~ ", paste0("task", 1:4, collapse = "+"), "\n",
                            "bond =~ ", paste0("bond", 1:4, collapse = "+")), alliance),
  finsrud = cfa_ref(paste0("therapist =~ ", paste0("therapist", 1:4, collapse = "+"), "\n",
                           "treatment =~ ", paste0("treatment", 1:4, collapse = "+")), finsrud)
)

dir.create("tests/stats/psychometrics/fixtures", recursive = TRUE, showWarnings = FALSE)
write_json(out, "tests/stats/psychometrics/fixtures/psychometrics_reference.json",
           digits = NA, auto_unbox = TRUE, pretty = FALSE)
cat("wrote tests/stats/psychometrics/fixtures/psychometrics_reference.json\n")
