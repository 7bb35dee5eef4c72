# Reference values for crossed grouping factors in bordin.stats.mixed, from lme4 / lmerTest.
#
# Run from the repository root:
#   Rscript scripts/r/mixed_crossed_reference.R
# Writes tests/stats/mixed/fixtures/mixed_crossed_reference.json, data included.
#
# Data: lme4's Penicillin (24 plates crossed with 6 samples, balanced) and a simulated
# observer-rated alliance study: 80 patients with 2-10 sessions each, every patient rated
# by 1-4 of 15 raters, each session by a random subset of the patient's raters (patients
# and raters partially crossed, unbalanced, patient-rater pairs replicated over sessions).
#
# Every model is fitted as in mixed_reference.R with lme4's default optimiser settings (the
# criterion users get) and with tight nloptwrap tolerances; the reference is a second tight
# fit restarted from the first one's θ. On the three-term model the first tight fit stops
# 8e-7 (relative) short in the patient:rater θ, 1e-11 above the optimum of a criterion
# that flat; the restart moves to within 1e-7 of it.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

source("scripts/r/lme4_tight_fit.R")  # tight, tight_fit, fit_record

## Simulated ratings: score ~ session + experience, patient intercepts and session slopes
## (correlated), rater intercepts and session slopes (drift), patient-rater interaction.
set.seed(20240517)
n_pat <- 80
n_rat <- 15
experience <- round(runif(n_rat, 1, 20), 1)
v0 <- rnorm(n_rat, 0, 0.5)
v1 <- rnorm(n_rat, 0, 0.04)
rows <- list()
for (p in seq_len(n_pat)) {
  u0 <- rnorm(1, 0, 0.7)
  u1 <- 0.3 * u0 * 0.1 / 0.7 + rnorm(1, 0, 0.1 * sqrt(1 - 0.3^2))
  n_ses <- sample(2:10, 1)
  raters <- sample(n_rat, sample(1:4, 1))
  w <- rnorm(length(raters), 0, 0.25)
  for (s in seq_len(n_ses)) {
    k <- if (length(raters) == 1) 1L else sort(sample(seq_along(raters),
                                                      sample(seq_along(raters), 1)))
    for (j in k) {
      r <- raters[j]
      score <- 4.2 + u0 + (0.15 + u1) * s + v0[r] + v1[r] * s + 0.02 * experience[r] +
        w[j] + rnorm(1, 0, 0.45)
      rows[[length(rows) + 1]] <- data.frame(
        patient = sprintf("p%02d", p), rater = sprintf("r%02d", r), session = s,
        experience = experience[r], score = round(score, 3)
      )
    }
  }
}
ratings <- do.call(rbind, rows)

summarise <- function(name, formula, data, reml) {
  f <- as.formula(formula)
  fits <- tight_fit(f, data, reml)
  m <- fits$m
  re <- ranef(m, condVar = TRUE)
  blups <- lapply(names(re), function(g) {
    pv <- attr(re[[g]], "postVar")
    list(
      group = g, levels = I(rownames(re[[g]])), terms = I(colnames(re[[g]])),
      values = unname(as.matrix(re[[g]])),
      condvar = lapply(seq_len(dim(pv)[3]), function(i) unname(pv[, , i, drop = TRUE]))
    )
  })
  c(list(
    name = name, formula = formula, reml = reml,
    nobs = nobs(m), ngroups = as.list(ngrps(m))
  ), fit_record(m, fits$default_fit, reml), list(ranef = blups))
}

penicillin_formula <- "diameter ~ 1 + (1 | plate) + (1 | sample)"
models <- list(
  summarise("penicillin_reml", penicillin_formula, Penicillin, TRUE),
  summarise("penicillin_ml", penicillin_formula, Penicillin, FALSE),
  summarise("ratings_intercepts_reml", "score ~ session + (1 | patient) + (1 | rater)",
            ratings, TRUE),
  summarise("ratings_slopes_reml",
            "score ~ session + experience + (1 + session | patient) + (1 | rater)",
            ratings, TRUE),
  summarise("ratings_slopes_ml",
            "score ~ session + experience + (1 + session | patient) + (1 | rater)",
            ratings, FALSE),
  summarise("ratings_three_reml",
            paste("score ~ session + experience + (1 | patient) + (1 + session | rater)",
                  "+ (1 | patient:rater)"),
            ratings, TRUE)
)
names(models) <- vapply(models, function(m) m$name, "")

## Profile intervals for Penicillin (REML fit; lme4 profiles its ML refit).
pen <- lme4::lmer(as.formula(penicillin_formula), data = Penicillin, REML = TRUE,
                  control = tight)
ci <- confint(pen, method = "profile", level = 0.95)
profile_ci <- list(names = I(rownames(ci)), lower = I(unname(ci[, 1])),
                   upper = I(unname(ci[, 2])))

## Likelihood-ratio test as anova() does it (REML fits are refitted by ML).
m0 <- lme4::lmer(score ~ session + experience + (1 | patient) + (1 | rater), data = ratings,
                 REML = TRUE, control = tight)
m1 <- lme4::lmer(score ~ session + experience + (1 + session | patient) + (1 | rater),
                 data = ratings, REML = TRUE, control = tight)
av <- suppressMessages(anova(m0, m1))
lrt <- list(
  formula0 = "score ~ session + experience + (1 | patient) + (1 | rater)",
  formula1 = "score ~ session + experience + (1 + session | patient) + (1 | rater)",
  npar = unname(av$npar), aic = unname(av$AIC), bic = unname(av$BIC),
  loglik = unname(av$logLik), chisq = unname(av$Chisq[2]), df = unname(av$Df[2]),
  p = unname(av[["Pr(>Chisq)"]][2])
)

out <- list(
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  Matrix = as.character(packageVersion("Matrix")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  control = "nloptwrap xtol_abs=1e-14 ftol_abs=1e-15 xtol_rel=1e-14 ftol_rel=1e-15",
  data = list(
    Penicillin = data.frame(diameter = Penicillin$diameter,
                            plate = as.character(Penicillin$plate),
                            sample = as.character(Penicillin$sample)),
    ratings = ratings
  ),
  models = models,
  profile_ci = profile_ci,
  lrt = lrt
)
write_json(out, "tests/stats/mixed/fixtures/mixed_crossed_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = FALSE, factor = "string")
cat("wrote tests/stats/mixed/fixtures/mixed_crossed_reference.json\n")
