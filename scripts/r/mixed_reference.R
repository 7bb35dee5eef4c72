# Reference values for bordin.stats.mixed from lme4 / lmerTest.
#
# Run from the repository root:
#   Rscript scripts/r/mixed_reference.R
# Writes tests/stats/mixed/fixtures/mixed_reference.json (vectors wrapped in I() stay
# JSON arrays even when they have one element).
#
# Every model is fitted twice: with lme4's default optimiser settings (to record the
# criterion lme4 users get) and with tight nloptwrap tolerances (the reference the tests
# compare with, so that agreement to 1e-6 is not limited by lme4 stopping early).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5),
  check.conv.singular = "ignore"
)

## Simulated clinic data: 3 levels, unbalanced (clinics / therapists / patients / sessions).
set.seed(20231)
rows <- list()
n_clinic <- 6
for (c in seq_len(n_clinic)) {
  u_c <- rnorm(1, 0, 1.5)
  n_ther <- sample(2:6, 1)
  for (t in seq_len(n_ther)) {
    u_t <- rnorm(1, 0, 2)
    n_pat <- sample(1:7, 1)
    for (p in seq_len(n_pat)) {
      u_p <- rnorm(1, 0, 3)
      s_p <- rnorm(1, 0, 0.4)
      n_ses <- sample(1:12, 1)
      treat <- sample(c("CBT", "IPT", "PDT"), 1)
      for (s in seq_len(n_ses)) {
        alliance <- round(rnorm(1, 4 + 0.1 * s, 0.8), 2)
        phq9 <- 15 + u_c + u_t + u_p - (0.5 + s_p) * s - 1.2 * alliance +
          ifelse(treat == "IPT", 0.8, ifelse(treat == "PDT", -0.6, 0)) + rnorm(1, 0, 2.5)
        rows[[length(rows) + 1]] <- data.frame(
          clinic = sprintf("c%d", c), therapist = sprintf("t%d", t),
          patient = sprintf("p%d", p),
          tid = sprintf("c%d-t%d", c, t), pid = sprintf("c%d-t%d-p%d", c, t, p),
          treatment = treat, session = s, alliance = alliance, phq9 = round(phq9, 3)
        )
      }
    }
  }
}
clinic <- do.call(rbind, rows)

summarise <- function(name, formula, data, reml) {
  f <- as.formula(formula)
  default_fit <- lme4::lmer(f, data = data, REML = reml)
  m <- lmerTest::lmer(f, data = data, REML = reml, control = tight)
  sm <- summary(m)
  co <- sm$coefficients
  df <- if ("df" %in% colnames(co)) co[, "df"] else rep(NA, nrow(co))
  vc <- as.data.frame(VarCorr(m))
  re <- ranef(m, condVar = TRUE)
  blups <- lapply(names(re), function(g) {
    pv <- attr(re[[g]], "postVar")
    list(
      group = g, levels = I(rownames(re[[g]])), terms = I(colnames(re[[g]])),
      values = unname(as.matrix(re[[g]])),
      # conditional variances: q x q x levels array flattened per level
      condvar = lapply(seq_len(dim(pv)[3]), function(i) unname(pv[, , i, drop = TRUE]))
    )
  })
  conv <- m@optinfo$conv$lme4$messages
  list(
    name = name, formula = formula, reml = reml,
    nobs = nobs(m), ngroups = as.list(ngrps(m)),
    terms = I(rownames(co)),
    beta = I(unname(fixef(m))), se = I(unname(co[, "Std. Error"])), df = I(unname(df)),
    t = I(unname(co[, "t value"])), p = I(unname(co[, ncol(co)])),
    vcov = unname(as.matrix(vcov(m))),
    theta = I(unname(getME(m, "theta"))), theta_names = I(names(getME(m, "theta"))),
    sigma = sigma(m),
    varcomp = list(grp = I(vc$grp), var1 = I(vc$var1), var2 = I(vc$var2),
                   vcov = I(vc$vcov), sdcor = I(vc$sdcor)),
    loglik = as.numeric(logLik(m)), deviance = deviance(m, REML = FALSE),
    reml_criterion = if (reml) REMLcrit(m) else NA,
    aic = AIC(m), bic = BIC(m), df_resid = df.residual(m),
    singular = isSingular(m),
    criterion = if (reml) REMLcrit(m) else deviance(m),
    criterion_default = if (reml) REMLcrit(default_fit) else deviance(default_fit),
    default_warnings = default_fit@optinfo$conv$lme4$messages,
    warnings = conv,
    fitted = unname(fitted(m)),
    fitted_fixed = unname(predict(m, re.form = NA)),
    ranef = blups
  )
}

models <- list(
  summarise("sleepstudy_slopes_reml", "Reaction ~ Days + (Days | Subject)", sleepstudy, TRUE),
  summarise("sleepstudy_slopes_ml", "Reaction ~ Days + (Days | Subject)", sleepstudy, FALSE),
  summarise("sleepstudy_intercept_reml", "Reaction ~ Days + (1 | Subject)", sleepstudy, TRUE),
  summarise("dyestuff_reml", "Yield ~ 1 + (1 | Batch)", Dyestuff, TRUE),
  summarise("dyestuff_ml", "Yield ~ 1 + (1 | Batch)", Dyestuff, FALSE),
  summarise("dyestuff2_reml", "Yield ~ 1 + (1 | Batch)", Dyestuff2, TRUE),
  summarise("pastes_reml", "strength ~ 1 + (1 | batch/cask)", Pastes, TRUE),
  summarise("pastes_ml", "strength ~ 1 + (1 | batch/cask)", Pastes, FALSE),
  summarise("clinic_a3_reml",
            "phq9 ~ session + alliance + treatment + (1 | clinic/therapist/patient)",
            clinic, TRUE),
  summarise("clinic_a3_ml",
            "phq9 ~ session + alliance + treatment + (1 | clinic/therapist/patient)",
            clinic, FALSE),
  summarise("clinic_a2_reml", "phq9 ~ session * alliance + (1 | tid) + (1 | pid)",
            clinic, TRUE),
  summarise("clinic_b_reml", "phq9 ~ session + alliance + (1 + session | pid)", clinic, TRUE),
  summarise("clinic_b_ml", "phq9 ~ session + alliance + (1 + session | pid)", clinic, FALSE),
  summarise("clinic_b3_reml",
            "phq9 ~ session + alliance + (1 + session + alliance | pid)", clinic, TRUE),
  summarise("clinic_extra_reml", "phq9 ~ alliance + (1 + session | pid)", clinic, TRUE),
  summarise("clinic_c_reml",
            "phq9 ~ session + alliance + treatment + (1 + session | pid) + (1 | tid)",
            clinic, TRUE),
  summarise("clinic_c_ml",
            "phq9 ~ session + alliance + treatment + (1 + session | pid) + (1 | tid)",
            clinic, FALSE)
)
names(models) <- vapply(models, function(m) m$name, "")

## Likelihood-ratio test as anova() does it (REML fits are refitted by ML).
m0 <- lme4::lmer(phq9 ~ session + alliance + (1 | pid), data = clinic, REML = TRUE,
                 control = tight)
m1 <- lme4::lmer(phq9 ~ session + alliance + (1 + session | pid), data = clinic, REML = TRUE,
                 control = tight)
av <- suppressMessages(anova(m0, m1))
lrt <- list(
  formula0 = "phq9 ~ session + alliance + (1 | pid)",
  formula1 = "phq9 ~ session + alliance + (1 + session | pid)",
  npar = unname(av$npar), aic = unname(av$AIC), bic = unname(av$BIC),
  loglik = unname(av$logLik), deviance = unname(av$deviance),
  chisq = unname(av$Chisq[2]), df = unname(av$Df[2]), p = unname(av[["Pr(>Chisq)"]][2])
)

out <- list(
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  Matrix = as.character(packageVersion("Matrix")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  control = "nloptwrap xtol_abs=1e-14 ftol_abs=1e-15 xtol_rel=1e-14 ftol_rel=1e-15",
  data = list(
    sleepstudy = sleepstudy,
    Dyestuff = Dyestuff, Dyestuff2 = Dyestuff2,
    Pastes = Pastes[, c("strength", "batch", "cask")],
    clinic = clinic
  ),
  models = models,
  lrt = lrt
)
write_json(out, "tests/stats/mixed/fixtures/mixed_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = FALSE, factor = "string")
cat("wrote tests/stats/mixed/fixtures/mixed_reference.json\n")
