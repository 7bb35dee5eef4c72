# Reference values for the profile-likelihood confidence intervals of bordin.stats.mixed
# (MixedModel.confint) from lme4's profile() and confint().
#
# Run from the repository root:
#   Rscript scripts/r/mixed_profile_reference.R
# Writes tests/stats/mixed/fixtures/mixed_profile_reference.json.
#
# For every model it records
#   * confint(method = "profile") at levels 0.95 and 0.80, from a fit with tight optimiser
#     tolerances (the reference) and from a fit with lme4's defaults (what users get);
#   * confint(method = "profile") from a profile on a ten times finer grid (steps of 0.05 in
#     .zeta instead of about 0.5): the spline error shrinks with the fourth power of the
#     step, so these are lme4's intervals with the interpolation error made negligible
#     (the difference between the two is the interpolation error of the default grid);
#   * confint(method = "Wald");
#   * the points of lme4's profile: for each parameter the values at which lme4 evaluated
#     the profile and the signed root deviance .zeta there. These are exact evaluations of
#     the profile (no interpolation); confint() then inverts a spline through them;
#   * the ML estimates the profile is centred on (profile() refits REML fits by ML).
# The simulated three-level data set is written into the JSON.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5),
  check.conv.singular = "ignore"
)

## Simulated unbalanced three-level data: clinics / therapists / patients / sessions.
set.seed(20240611)
rows <- list()
for (c in 1:7) {
  u_c <- rnorm(1, 0, 1.2)
  for (t in seq_len(sample(2:5, 1))) {
    u_t <- rnorm(1, 0, 1.5)
    for (p in seq_len(sample(1:6, 1))) {
      u_p <- rnorm(1, 0, 2.5)
      s_p <- rnorm(1, 0, 0.35)
      for (s in seq_len(sample(2:10, 1))) {
        x <- round(rnorm(1, 4 + 0.1 * s, 0.8), 2)
        y <- 15 + u_c + u_t + u_p - (0.5 + s_p) * s - 1.1 * x + rnorm(1, 0, 2)
        rows[[length(rows) + 1]] <- data.frame(
          clinic = sprintf("c%d", c), therapist = sprintf("t%d", t),
          patient = sprintf("p%d", p), pid = sprintf("c%d-t%d-p%d", c, t, p),
          session = s, x = x, y = round(y, 3)
        )
      }
    }
  }
}
sim <- do.call(rbind, rows)

datasets <- list(
  sleepstudy = sleepstudy, Dyestuff = Dyestuff, Dyestuff2 = Dyestuff2,
  Pastes = Pastes[, c("strength", "batch", "cask")], sim = sim
)

capture_warnings <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(
    expr,
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage")
  )
  list(value = value, warnings = msgs)
}

ci_list <- function(ci) {
  list(names = I(rownames(ci)), lower = I(unname(ci[, 1])), upper = I(unname(ci[, 2])))
}

reference <- function(name, formula, data_name, reml) {
  f <- as.formula(formula)
  data <- datasets[[data_name]]
  m <- capture_warnings(lmer(f, data = data, REML = reml, control = tight))$value
  m_default <- capture_warnings(lmer(f, data = data, REML = reml))$value
  pr <- capture_warnings(profile(m))
  pr_default <- capture_warnings(profile(m_default))
  pp <- pr$value
  ci95 <- capture_warnings(confint(pp, level = 0.95))
  ci80 <- capture_warnings(confint(pp, level = 0.80))
  ci95_default <- capture_warnings(confint(pr_default$value, level = 0.95))
  pr_fine <- capture_warnings(profile(m, delta = 0.05, maxpts = 250))
  ci95_fine <- capture_warnings(confint(pr_fine$value, level = 0.95))
  ci80_fine <- capture_warnings(confint(pr_fine$value, level = 0.80))
  wald <- confint(m, method = "Wald")
  df <- as.data.frame(pp)
  points <- lapply(levels(df$.par), function(p) {
    sub <- df[df$.par == p, ]
    list(parameter = p, value = I(unname(sub$.focal)), zeta = I(unname(sub$.zeta)))
  })
  ml <- if (reml) refitML(m) else m
  opt <- attr(lme4:::devfun2(ml), "optimum")
  list(
    name = name, formula = formula, data = data_name, reml = reml,
    names_new = I(rownames(confint(m, method = "Wald", oldNames = FALSE))),
    ml_estimates = list(names = I(names(opt)), values = I(unname(opt))),
    ml_deviance = deviance(ml),
    confint_95 = ci_list(ci95$value),
    confint_80 = ci_list(ci80$value),
    confint_95_default_fit = ci_list(ci95_default$value),
    confint_95_fine = ci_list(ci95_fine$value),
    confint_80_fine = ci_list(ci80_fine$value),
    wald_95 = ci_list(wald),
    profile_points = points,
    warnings = I(unique(c(pr$warnings, ci95$warnings, ci80$warnings))),
    warnings_fine = I(unique(c(pr_fine$warnings, ci95_fine$warnings)))
  )
}

models <- list(
  reference("sleepstudy_slopes_reml", "Reaction ~ Days + (Days | Subject)", "sleepstudy",
            TRUE),
  reference("sleepstudy_intercept_ml", "Reaction ~ Days + (1 | Subject)", "sleepstudy",
            FALSE),
  reference("dyestuff_reml", "Yield ~ 1 + (1 | Batch)", "Dyestuff", TRUE),
  reference("dyestuff2_reml", "Yield ~ 1 + (1 | Batch)", "Dyestuff2", TRUE),
  reference("pastes_reml", "strength ~ 1 + (1 | batch/cask)", "Pastes", TRUE),
  reference("sim_three_level_reml", "y ~ x + (1 | clinic/therapist/patient)", "sim", TRUE),
  reference("sim_slopes_reml", "y ~ x + session + (1 + session | pid)", "sim", TRUE)
)
names(models) <- vapply(models, function(m) m$name, "")

out <- list(
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  Matrix = as.character(packageVersion("Matrix")),
                  nloptr = as.character(packageVersion("nloptr")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  control = "nloptwrap xtol_abs=1e-14 ftol_abs=1e-15 xtol_rel=1e-14 ftol_rel=1e-15",
  data = datasets,
  models = models
)
dir.create("tests/stats/mixed/fixtures", showWarnings = FALSE, recursive = TRUE)
write_json(out, "tests/stats/mixed/fixtures/mixed_profile_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = FALSE, factor = "string")
cat("wrote tests/stats/mixed/fixtures/mixed_profile_reference.json\n")
