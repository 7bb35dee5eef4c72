# lme4 reference fits of three-level random-intercept models with few clinics, where a
# gradient optimiser can stop on the boundary (a variance at 0) although an interior
# optimum is better.
#
# Run from the repository root:
#   Rscript scripts/r/mixed_three_level.R
# Writes tests/stats/mixed/fixtures/mixed_three_level.json.
#
# Design (like a therapist-effects bootstrap replicate): 6 organisations x 5 clinicians,
# 2-25 patients per clinician, post ~ baseline + (1 | organization/clinician). The seeds
# are those, out of 1-200, where Bordin ended with a worse REML criterion than lme4 (one
# variance at or next to 0) before or during the boundary-escape fix.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

seeds <- c(2L, 4L, 36L, 53L, 77L, 90L, 101L, 120L, 134L)

# tight tolerances: the reference optimum, not lme4's default stopping point
tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5),
  check.conv.singular = "ignore"
)

simulate_replicate <- function(seed) {
  set.seed(seed)
  rows <- list()
  for (c in 1:6) {
    u_c <- rnorm(1, 0, 2.5)
    for (t in 1:5) {
      u_t <- rnorm(1, 0, 1.8)
      n_pat <- sample(2:25, 1)
      baseline <- round(rnorm(n_pat, 50, 10), 1)
      post <- 10 + 0.6 * baseline + u_c + u_t + rnorm(n_pat, 0, 6)
      rows[[length(rows) + 1]] <- data.frame(
        organization = sprintf("o%d", c), clinician = sprintf("o%d-c%d", c, t),
        baseline = baseline, post = round(post, 3)
      )
    }
  }
  do.call(rbind, rows)
}

formula <- "post ~ baseline + (1 | organization/clinician)"
cases <- list()
for (seed in seeds) {
  d <- simulate_replicate(seed)
  m <- lmer(as.formula(formula), data = d, REML = TRUE, control = tight)
  vc <- as.data.frame(VarCorr(m))
  cases[[as.character(seed)]] <- list(
    seed = seed, data = d,
    reml_crit = as.numeric(-2 * logLik(m)),
    logLik = as.numeric(logLik(m)),
    grp = I(vc$grp), vcov = I(vc$vcov),
    fixef = I(unname(fixef(m))),
    theta = I(unname(getME(m, "theta")))
  )
}

out <- list(
  R = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  formula = formula,
  cases = cases
)
dir.create("tests/stats/mixed/fixtures", showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE),
           "tests/stats/mixed/fixtures/mixed_three_level.json")
