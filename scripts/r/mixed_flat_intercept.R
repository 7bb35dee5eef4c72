# lme4/lmerTest reference for a random-intercept model whose REML criterion is so flat in
# theta that comparing criterion values alone (Brent) stops ~1e-5 relative from the optimum,
# and for the same panel with a nearly singular random slope.
#
# Run from the repository root:
#   Rscript scripts/r/mixed_flat_intercept.R
# Reads tests/stats/mixed/fixtures/mixed_flat_intercept_data.csv (the lagged
# alliance-to-symptoms panel of the simulated alliance reference data: outcome at the next
# session on person-mean-centred alliance and symptoms) and writes
# tests/stats/mixed/fixtures/mixed_flat_intercept.json.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

d <- read.csv("tests/stats/mixed/fixtures/mixed_flat_intercept_data.csv")
formula <- paste("y ~ alliance_within + alliance_between + symptoms_within +",
                 "symptoms_between + session + (1 | episode)")
tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5)
)
m <- lmerTest::lmer(as.formula(formula), data = d, REML = TRUE, control = tight)
default_fit <- lme4::lmer(as.formula(formula), data = d, REML = TRUE)
co <- summary(m)$coefficients
vc <- as.data.frame(VarCorr(m))
out <- list(
  R = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  formula = formula,
  theta = I(unname(getME(m, "theta"))),
  default_theta = I(unname(getME(default_fit, "theta"))),
  reml_crit = as.numeric(-2 * logLik(m)),
  grp = I(vc$grp), vcov = I(vc$vcov),
  terms = I(rownames(co)), estimate = I(unname(co[, "Estimate"])),
  se = I(unname(co[, "Std. Error"]))
)
# the same panel with a random slope: a nearly singular fit (correlation close to 1), where
# the slope's Cholesky diagonal sits at or next to 0
slope_formula <- sub("\\(1 \\| episode\\)", "(1 + alliance_within | episode)", formula)
ms <- lmerTest::lmer(as.formula(slope_formula), data = d, REML = TRUE, control = tight)
vs <- as.data.frame(VarCorr(ms))
out$slope <- list(
  formula = slope_formula,
  theta = I(unname(getME(ms, "theta"))),
  reml_crit = as.numeric(-2 * logLik(ms)),
  default_reml_crit = as.numeric(-2 * logLik(lme4::lmer(as.formula(slope_formula), data = d,
                                                         REML = TRUE))),
  vcov = I(vs$vcov), estimate = I(unname(fixef(ms))),
  se = I(unname(summary(ms)$coefficients[, "Std. Error"]))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE),
           "tests/stats/mixed/fixtures/mixed_flat_intercept.json")
