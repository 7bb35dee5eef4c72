# Reference values for bordin.stats.mixed with two random-effects terms on one grouping
# factor (lme4's uncorrelated intercept and slope, the expansion of (x || g)):
#   y ~ x + (1 | g) + (0 + x | g)
#
# Run from the repository root:
#   Rscript scripts/r/mixed_double_term_reference.R
# Writes tests/stats/mixed/fixtures/mixed_double_term_reference.json, data included.
#
# Data, read from the other mixed fixtures so that every test runs on the same rows:
#   * sleepstudy (mixed_reference.json; checked equal to lme4's own copy);
#   * the simulated three-level clinic (mixed_reference.json), nested: the double term on
#     the inner factor (pid), and on the outer factor (tid), where lme4 puts the terms in
#     the order (1 | pid), (0 + session | tid), (1 | tid): by decreasing number of groups,
#     ties in reverse formula order (mkReTrms' rev(order(nl))), because a later term has
#     more groups than an earlier one;
#   * the simulated rating study (mixed_crossed_reference.json): patients partially
#     crossed with raters, the double term on patient, once in formula order and once
#     written after (1 | rater), which lme4 reorders as above.
#
# What lme4 returns for such models: ranef(m)$g is ONE data frame with a column per
# effect of all of g's terms ("(Intercept)", "Days"), and its "postVar" attribute is a
# list with one array per term (the conditional covariance within each term only);
# VarCorr(m) lists g once per term, the later ones made unique as "g.1", "g.2", ...
# The fixture records, per grouping factor, the BLUPs, the conditional variance of every
# effect (levels x effects), and the per-term postVar blocks.
#
# Every model is fitted with lme4's default optimiser settings (the criterion users get)
# and with tight nloptwrap tolerances; the reference is a second tight fit restarted from
# the first one's theta (as in mixed_crossed_reference.R). For the REML sleepstudy model
# the profile intervals are recorded on lme4's default grid and on a ten times finer one
# (delta = 0.05, as in mixed_profile_reference.R).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

source("scripts/r/lme4_tight_fit.R")  # tight, tight_fit, fit_record

nested_fixture <- fromJSON("tests/stats/mixed/fixtures/mixed_reference.json")
crossed_fixture <- fromJSON("tests/stats/mixed/fixtures/mixed_crossed_reference.json")

sleep <- nested_fixture$data$sleepstudy
stopifnot(
  nrow(sleep) == nrow(lme4::sleepstudy),
  isTRUE(all.equal(sleep$Reaction, lme4::sleepstudy$Reaction, tolerance = 1e-12)),
  all(sleep$Days == lme4::sleepstudy$Days),
  all(sleep$Subject == as.character(lme4::sleepstudy$Subject))
)
clinic <- nested_fixture$data$clinic
ratings <- crossed_fixture$data$ratings

datasets <- list(sleepstudy = sleep, clinic = clinic, ratings = ratings)

# Conditional variances of one grouping factor's BLUPs: "postVar" is an array
# (q x q x levels) for one term, a list of such arrays (one per term) for several.
condvar_of <- function(re_g) {
  pv <- attr(re_g, "postVar")
  blocks <- if (is.list(pv)) pv else list(pv)
  if (!is.list(pv)) names(blocks) <- paste(colnames(re_g), collapse = ":")
  n_lev <- nrow(re_g)
  diag_vars <- do.call(cbind, lapply(blocks, function(a) {
    t(vapply(seq_len(n_lev), function(i) diag(a[, , i, drop = FALSE][, , 1], nrow = dim(a)[1]),
             numeric(dim(a)[1])))
  }))
  diag_vars <- matrix(diag_vars, nrow = n_lev)
  per_term <- lapply(seq_along(blocks), function(t) {
    a <- blocks[[t]]
    list(size = dim(a)[1],
         blocks = lapply(seq_len(n_lev), function(i) unname(a[, , i, drop = TRUE])))
  })
  list(diag = unname(diag_vars), terms = per_term)
}

summarise <- function(name, formula, data_name, reml) {
  f <- as.formula(formula)
  data <- datasets[[data_name]]
  fits <- tight_fit(f, data, reml)
  m <- fits$m
  re <- ranef(m, condVar = TRUE)
  blups <- lapply(names(re), function(g) {
    cv <- condvar_of(re[[g]])
    list(
      group = g, levels = I(rownames(re[[g]])), terms = I(colnames(re[[g]])),
      values = unname(as.matrix(re[[g]])),
      condvar = cv$diag,
      condvar_terms = cv$terms
    )
  })
  cnms <- getME(m, "cnms")
  c(list(
    name = name, formula = formula, data = data_name, reml = reml,
    nobs = nobs(m), ngroups = as.list(ngrps(m)),
    re_terms = lapply(seq_along(cnms), function(k) list(group = names(cnms)[k],
                                                        terms = I(cnms[[k]])))
  ), fit_record(m, fits$default_fit, reml), list(ranef = blups))
}

sleep_formula <- "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"
models <- list(
  summarise("sleepstudy_double_reml", sleep_formula, "sleepstudy", TRUE),
  summarise("sleepstudy_double_ml", sleep_formula, "sleepstudy", FALSE),
  summarise("clinic_double_inner_reml",
            "phq9 ~ session + (1 | pid) + (0 + session | pid) + (1 | tid)", "clinic", TRUE),
  summarise("clinic_double_outer_reml",
            "phq9 ~ session + (1 | tid) + (0 + session | tid) + (1 | pid)", "clinic", TRUE),
  summarise("ratings_double_reml",
            "score ~ session + (1 | patient) + (0 + session | patient) + (1 | rater)",
            "ratings", TRUE),
  summarise("ratings_double_ml",
            "score ~ session + (1 | patient) + (0 + session | patient) + (1 | rater)",
            "ratings", FALSE),
  summarise("ratings_double_reordered_reml",
            "score ~ session + (1 | rater) + (1 | patient) + (0 + session | patient)",
            "ratings", TRUE)
)
names(models) <- vapply(models, function(m) m$name, "")

## Profile intervals of the REML sleepstudy model (lme4 profiles its ML refit).
ci_list <- function(ci) {
  list(names = I(rownames(ci)), lower = I(unname(ci[, 1])), upper = I(unname(ci[, 2])))
}
sleep_fit <- lme4::lmer(as.formula(sleep_formula), data = sleep, REML = TRUE,
                        control = tight)
profile_ci <- list(
  model = "sleepstudy_double_reml",
  names_new = I(rownames(confint(sleep_fit, method = "Wald", oldNames = FALSE))),
  confint_95 = ci_list(confint(profile(sleep_fit), level = 0.95)),
  confint_95_fine = ci_list(confint(profile(sleep_fit, delta = 0.05, maxpts = 250),
                                    level = 0.95))
)

out <- list(
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  Matrix = as.character(packageVersion("Matrix")),
                  nloptr = as.character(packageVersion("nloptr")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  control = "nloptwrap xtol_abs=1e-14 ftol_abs=1e-15 xtol_rel=1e-14 ftol_rel=1e-15",
  data = datasets,
  models = models,
  profile_ci = profile_ci
)
write_json(out, "tests/stats/mixed/fixtures/mixed_double_term_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = FALSE, factor = "string")
cat("wrote tests/stats/mixed/fixtures/mixed_double_term_reference.json\n")
