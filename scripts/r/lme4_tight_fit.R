# Shared by mixed_crossed_reference.R and mixed_double_term_reference.R (sourced; run
# those from the repository root): the tight lme4 fit both record and what they record
# of it.
#
# Every model is fitted with lme4's default optimiser settings (the criterion users get)
# and with tight nloptwrap tolerances; the reference is a second tight fit restarted from
# the first one's theta (a first tight fit can stop a little short on a flat criterion).

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                 maxeval = 1e5),
  check.conv.singular = "ignore"
)

# list(m = the reference fit (lmerTest), default_fit = lme4 with its defaults)
tight_fit <- function(f, data, reml) {
  default_fit <- lme4::lmer(f, data = data, REML = reml)
  first <- lme4::lmer(f, data = data, REML = reml, control = tight)
  m <- lmerTest::lmer(f, data = data, REML = reml, control = tight,
                      start = getME(first, "theta"))
  list(m = m, default_fit = default_fit)
}

# What the fixtures record of a fit besides its BLUPs: fixed effects with Satterthwaite
# df, theta, variance components, likelihoods, criteria and fitted values.
fit_record <- function(m, default_fit, reml) {
  co <- summary(m)$coefficients
  vc <- as.data.frame(VarCorr(m))
  list(
    terms = I(rownames(co)),
    beta = I(unname(fixef(m))), se = I(unname(co[, "Std. Error"])),
    df = I(unname(co[, "df"])), t = I(unname(co[, "t value"])),
    p = I(unname(co[, "Pr(>|t|)"])),
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
    warnings = m@optinfo$conv$lme4$messages,
    fitted = unname(fitted(m)),
    fitted_fixed = unname(predict(m, re.form = NA))
  )
}
