# Reference values for bordin.stats.effectsize and bordin.stats.meta, from R's metafor.
#
# Run from the repository root:
#   Rscript scripts/r/meta_reference.R
# Writes tests/stats/meta/fixtures/meta_reference.json with the R, metafor and metadat
# versions, the rows of every dataset used (so the tests need no R), and the results.
#
# Convergence criteria are tightened far below metafor's defaults (threshold 1e-5 for
# Fisher scoring, tol eps^0.25 for uniroot) so that a comparison at 1e-6 relative is a
# comparison of definitions, not of where two optimisers happened to stop.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-13, maxiter = 5000, tol = 1e-13)
ctrl_mv <- list(rel.tol = 1e-12, iter.max = 5000, eval.max = 10000)
ci_ctrl <- list(tol = 1e-13)

# nlminb occasionally reports false non-convergence at rel.tol = 1e-12 (it cannot improve
# further in floating point); then fall back to 1e-10 and record which was used.
fit_mv <- function(fit) {
  res <- try(fit(ctrl_mv), silent = TRUE)
  if (inherits(res, "try-error")) {
    res <- fit(modifyList(ctrl_mv, list(rel.tol = 1e-10)))
    attr(res, "rel_tol") <- 1e-10
  } else {
    attr(res, "rel_tol") <- ctrl_mv$rel.tol
  }
  res
}

num <- function(x) if (is.null(x)) NA else as.vector(x)

rows_of <- function(d) {
  d <- as.data.frame(d)
  attr(d, "digits") <- NULL
  for (nm in names(d)) attributes(d[[nm]]) <- NULL
  d
}

extract_uni <- function(res, ci = TRUE) {
  out <- list(
    beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    tau2 = num(res$tau2), se_tau2 = num(res$se.tau2),
    I2 = num(res$I2), H2 = num(res$H2), vt = num(res$vt),
    QE = num(res$QE), QEp = num(res$QEp),
    QM = num(res$QM), QMp = num(res$QMp), QMdf = num(res$QMdf),
    k = res$k, p = res$p,
    ll_ML = num(res$fit.stats["ll", "ML"]), ll_REML = num(res$fit.stats["ll", "REML"])
  )
  pr <- predict(res)
  out$pred <- num(pr$pred)
  out$pred_se <- num(pr$se)
  out$pi_lb <- num(pr$pi.lb)
  out$pi_ub <- num(pr$pi.ub)
  if (ci && !(res$method %in% c("FE", "EE", "CE"))) {
    cf <- confint(res, control = ci_ctrl)$random
    out$tau2_ci <- num(cf["tau^2", c("ci.lb", "ci.ub")])
    out$I2_ci <- num(cf["I^2(%)", c("ci.lb", "ci.ub")])
    out$H2_ci <- num(cf["H^2", c("ci.lb", "ci.ub")])
  }
  out
}

cases <- list()
add <- function(case) cases[[length(cases) + 1L]] <<- case

estimators <- c("EE", "FE", "DL", "HE", "HS", "SJ", "PM", "ML", "REML", "EB")
tests <- c("z", "knha", "t")

# ---- 1. dat.molloy2014: correlations, Fisher z; every estimator x every test -------------
molloy <- rows_of(dat.molloy2014)
es_z <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
es_r <- escalc(measure = "COR", ri = ri, ni = ni, data = dat.molloy2014)
add(list(id = "molloy_escalc", kind = "escalc", dataset = "molloy2014",
         zcor_yi = num(es_z$yi), zcor_vi = num(es_z$vi),
         cor_yi = num(es_r$yi), cor_vi = num(es_r$vi)))
for (m in estimators) for (tt in tests) {
  res <- rma(yi, vi, data = es_z, method = m, test = tt, control = ctrl)
  out <- extract_uni(res)
  if (m == "REML") {
    pr <- predict(res, transf = transf.ztor)
    out$r_pred <- num(pr$pred)
    out$r_ci <- num(c(pr$ci.lb, pr$ci.ub))
    out$r_pi <- num(c(pr$pi.lb, pr$pi.ub))
  }
  add(list(id = paste0("molloy_", m, "_", tt), kind = "rma", dataset = "molloy2014",
           effect = "ZCOR", method = m, test = tt, mods = NULL, result = out))
}
res <- rma(yi, vi, data = es_z, method = "REML", test = "knha", control = ctrl)
l1 <- leave1out(res)
add(list(id = "molloy_leave1out_REML_knha", kind = "leave1out", dataset = "molloy2014",
         effect = "ZCOR", method = "REML", test = "knha",
         result = list(estimate = num(l1$estimate), se = num(l1$se), zval = num(l1$zval),
                       pval = num(l1$pval), ci_lb = num(l1$ci.lb), ci_ub = num(l1$ci.ub),
                       Q = num(l1$Q), Qp = num(l1$Qp), tau2 = num(l1$tau2),
                       I2 = num(l1$I2), H2 = num(l1$H2))))
rt <- regtest(rma(yi, vi, data = es_z, method = "REML", control = ctrl))
add(list(id = "molloy_regtest_REML", kind = "regtest", dataset = "molloy2014",
         effect = "ZCOR", method = "REML", test = "z",
         result = list(zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs),
                       est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub))))
# continuous moderator (mean age) with every estimator, z and knha
for (m in estimators) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ meanage, data = es_z, method = m, test = tt, control = ctrl)
  add(list(id = paste0("molloy_meanage_", m, "_", tt), kind = "rma", dataset = "molloy2014",
           effect = "ZCOR", method = m, test = tt, mods = "meanage",
           result = extract_uni(res)))
}

# ---- 2. dat.mcdaniel1994: categorical moderator, QM, subgroups ----------------------------
mcd <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.mcdaniel1994)
for (m in c("DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS", "EE")) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ factor(type), data = mcd, method = m, test = tt, control = ctrl)
  add(list(id = paste0("mcdaniel_type_", m, "_", tt), kind = "rma", dataset = "mcdaniel1994",
           effect = "ZCOR", method = m, test = tt, mods = "C(type)",
           result = extract_uni(res)))
}
res <- rma(yi, vi, mods = ~ factor(type) + factor(struct), data = mcd, method = "REML",
           test = "knha", control = ctrl)
add(list(id = "mcdaniel_type_struct_REML_knha", kind = "rma", dataset = "mcdaniel1994",
         effect = "ZCOR", method = "REML", test = "knha", mods = "C(type) + C(struct)",
         result = extract_uni(res)))
# subgroup analysis: a separate REML model per level of 'struct', then the difference tested
# by a fixed-effect model on the subgroup estimates (Q between), as in metafor's tips.
sub <- list()
levs <- sort(unique(mcd$struct))
est <- c(); ses <- c(); t2 <- c()
for (lv in levs) {
  r1 <- rma(yi, vi, data = mcd, subset = struct == lv, method = "REML", control = ctrl)
  est <- c(est, r1$beta); ses <- c(ses, r1$se); t2 <- c(t2, r1$tau2)
}
between <- rma(est, sei = ses, method = "FE")
add(list(id = "mcdaniel_subgroup_struct_REML", kind = "subgroup", dataset = "mcdaniel1994",
         effect = "ZCOR", method = "REML", test = "z", by = "struct",
         result = list(levels = levs, beta = est, se = ses, tau2 = t2,
                       Qb = num(between$QE), Qb_df = length(levs) - 1, Qbp = num(between$QEp))))

# ---- 3. dat.bcg: log risk ratios, two continuous moderators, every estimator x test ------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
for (m in estimators) for (tt in tests) {
  res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = m, test = tt, control = ctrl)
  add(list(id = paste0("bcg_ablat_year_", m, "_", tt), kind = "rma", dataset = "bcg",
           effect = "yi", method = m, test = tt, mods = "ablat + year",
           result = extract_uni(res)))
  res <- rma(yi, vi, data = bcg, method = m, test = tt, control = ctrl)
  add(list(id = paste0("bcg_", m, "_", tt), kind = "rma", dataset = "bcg",
           effect = "yi", method = m, test = tt, mods = NULL, result = extract_uni(res)))
}
res <- rma(yi, vi, data = bcg, method = "REML", control = ctrl)
tf <- trimfill(res, control = ctrl)
add(list(id = "bcg_trimfill_REML", kind = "trimfill", dataset = "bcg", effect = "yi",
         method = "REML", test = "z",
         result = list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side,
                       beta = num(tf$beta), se = num(tf$se), tau2 = num(tf$tau2),
                       ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub),
                       yi = num(tf$yi), vi = num(tf$vi), fill = tf$fill)))

# ---- 4. dat.konstantopoulos2011: three-level model, district/school ----------------------
ko <- dat.konstantopoulos2011
for (m in c("REML", "ML")) {
  res <- fit_mv(function(ct) rma.mv(yi, vi, random = ~ 1 | district/school, data = ko,
                                    method = m, control = ct))
  out <- list(beta = num(res$beta), se = num(res$se), zval = num(res$zval),
              pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
              sigma2 = num(res$sigma2), QE = num(res$QE), QEp = num(res$QEp),
              QM = num(res$QM), QMp = num(res$QMp),
              logLik = num(logLik(res)), k = res$k, p = res$p,
              rel_tol = attr(res, "rel_tol"))
  pr <- predict(res)
  out$pi_lb <- num(pr$pi.lb); out$pi_ub <- num(pr$pi.ub)
  rb <- robust(res, cluster = district)
  out$robust <- list(se = num(rb$se), zval = num(rb$zval), pval = num(rb$pval),
                     ci_lb = num(rb$ci.lb), ci_ub = num(rb$ci.ub), dfs = num(rb$dfs),
                     QM = num(rb$QM), QMp = num(rb$QMp), n = rb$n)
  add(list(id = paste0("konstantopoulos_mv_", m), kind = "rma.mv",
           dataset = "konstantopoulos2011", effect = "yi", method = m, test = "z",
           random = c("district", "school"), mods = NULL, result = out))
  res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ I(year - 1990),
                                    random = ~ 1 | district/school, data = ko, method = m,
                                    test = "t", control = ct))
  out <- list(beta = num(res$beta), se = num(res$se), zval = num(res$zval),
              pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
              sigma2 = num(res$sigma2), QE = num(res$QE), QEp = num(res$QEp),
              QM = num(res$QM), QMp = num(res$QMp),
              logLik = num(logLik(res)), k = res$k, p = res$p,
              rel_tol = attr(res, "rel_tol"))
  rb <- robust(res, cluster = district)
  out$robust <- list(se = num(rb$se), zval = num(rb$zval), pval = num(rb$pval),
                     ci_lb = num(rb$ci.lb), ci_ub = num(rb$ci.ub), dfs = num(rb$dfs),
                     QM = num(rb$QM), QMp = num(rb$QMp), n = rb$n)
  add(list(id = paste0("konstantopoulos_mv_year_", m, "_t"), kind = "rma.mv",
           dataset = "konstantopoulos2011", effect = "yi", method = m, test = "t",
           random = c("district", "school"), mods = "I(year - 1990)", result = out))
}
res <- rma(yi, vi, data = ko, method = "REML", control = ctrl)
add(list(id = "konstantopoulos_uni_REML_z", kind = "rma", dataset = "konstantopoulos2011",
         effect = "yi", method = "REML", test = "z", mods = NULL, result = extract_uni(res)))
rb <- robust(res, cluster = ko$district)
add(list(id = "konstantopoulos_uni_REML_robust", kind = "robust.uni",
         dataset = "konstantopoulos2011", effect = "yi", method = "REML", test = "z",
         cluster = "district",
         result = list(beta = num(rb$beta), se = num(rb$se), zval = num(rb$zval),
                       pval = num(rb$pval), ci_lb = num(rb$ci.lb), ci_ub = num(rb$ci.ub),
                       dfs = num(rb$dfs), n = rb$n)))

# ---- 5. dat.assink2016: effects in studies, categorical moderator, robust CR1 and CR2 ----
as <- dat.assink2016
for (m in c("REML", "ML")) {
  for (md in list(NULL, "deltype")) {
    if (is.null(md)) {
      res <- fit_mv(function(ct) rma.mv(yi, vi, random = ~ 1 | study/esid, data = as,
                                      method = m, control = ct))
    } else {
      res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ factor(deltype),
                                      random = ~ 1 | study/esid, data = as, method = m,
                                      control = ct))
    }
    out <- list(beta = num(res$beta), se = num(res$se), zval = num(res$zval),
                pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
                sigma2 = num(res$sigma2), QE = num(res$QE), QEp = num(res$QEp),
                QM = num(res$QM), QMp = num(res$QMp),
                logLik = num(logLik(res)), k = res$k, p = res$p,
              rel_tol = attr(res, "rel_tol"))
    rb <- robust(res, cluster = study)
    out$robust <- list(se = num(rb$se), zval = num(rb$zval), pval = num(rb$pval),
                       ci_lb = num(rb$ci.lb), ci_ub = num(rb$ci.ub), dfs = num(rb$dfs),
                       QM = num(rb$QM), QMp = num(rb$QMp), n = rb$n)
    if (requireNamespace("clubSandwich", quietly = TRUE)) {
      rb2 <- robust(res, cluster = study, clubSandwich = TRUE)
      out$robust_cr2 <- list(vb = num(rb2$vb), se = num(rb2$se), dfs = num(rb2$dfs),
                             pval = num(rb2$pval))
    }
    add(list(id = paste0("assink_mv_", m, if (is.null(md)) "" else "_deltype"),
             kind = "rma.mv", dataset = "assink2016", effect = "yi", method = m, test = "z",
             random = c("study", "esid"),
             mods = if (is.null(md)) NULL else "C(deltype)", result = out))
  }
}

# ---- 6. dat.aloe2013: partial correlations from t statistics -----------------------------
al <- dat.aloe2013
pc <- escalc(measure = "PCOR", ti = tval, ni = n, mi = preds, data = al)
zpc <- escalc(measure = "ZPCOR", ti = tval, ni = n, mi = preds, data = al)
add(list(id = "aloe_escalc", kind = "escalc", dataset = "aloe2013",
         pcor_yi = num(pc$yi), pcor_vi = num(pc$vi),
         zpcor_yi = num(zpc$yi), zpcor_vi = num(zpc$vi)))
for (m in c("REML", "DL")) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, data = pc, method = m, test = tt, control = ctrl)
  add(list(id = paste0("aloe_pcor_", m, "_", tt), kind = "rma", dataset = "aloe2013",
           effect = "PCOR", method = m, test = tt, mods = NULL, result = extract_uni(res)))
}

# ---- 7. dat.hackshaw1998: Egger's test and trim-and-fill ---------------------------------
hs <- dat.hackshaw1998
for (m in c("EE", "REML", "DL")) {
  res <- rma(yi, vi, data = hs, method = m, control = ctrl)
  add(list(id = paste0("hackshaw_", m), kind = "rma", dataset = "hackshaw1998", effect = "yi",
           method = m, test = "z", mods = NULL, result = extract_uni(res)))
  rt <- regtest(res)
  add(list(id = paste0("hackshaw_regtest_", m), kind = "regtest", dataset = "hackshaw1998",
           effect = "yi", method = m, test = "z",
           result = list(zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs),
                         est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub))))
  tf <- trimfill(res, control = ctrl)
  add(list(id = paste0("hackshaw_trimfill_", m), kind = "trimfill", dataset = "hackshaw1998",
           effect = "yi", method = m, test = "z",
           result = list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side,
                         beta = num(tf$beta), se = num(tf$se), tau2 = num(tf$tau2),
                         ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub),
                         yi = num(tf$yi), vi = num(tf$vi), fill = tf$fill)))
}
res <- rma(yi, vi, data = hs, method = "REML", test = "knha", control = ctrl)
rt <- regtest(res)
add(list(id = "hackshaw_regtest_REML_knha", kind = "regtest", dataset = "hackshaw1998",
         effect = "yi", method = "REML", test = "knha",
         result = list(zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs),
                       est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub))))
tf <- trimfill(rma(yi, vi, data = hs, method = "REML", control = ctrl), side = "right",
               control = ctrl)
add(list(id = "hackshaw_trimfill_REML_right", kind = "trimfill", dataset = "hackshaw1998",
         effect = "yi", method = "REML", test = "z", side = "right",
         result = list(k0 = tf$k0, se_k0 = num(tf$se.k0), side = tf$side,
                       beta = num(tf$beta), se = num(tf$se), tau2 = num(tf$tau2),
                       ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub),
                       yi = num(tf$yi), vi = num(tf$vi), fill = tf$fill)))

datasets <- list(
  molloy2014 = molloy,
  mcdaniel1994 = rows_of(dat.mcdaniel1994),
  bcg = rows_of(bcg),
  konstantopoulos2011 = rows_of(ko),
  assink2016 = rows_of(as),
  aloe2013 = rows_of(al),
  hackshaw1998 = rows_of(hs)
)

out <- list(
  generated_by = "scripts/r/meta_reference.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  clubSandwich_version = if (requireNamespace("clubSandwich", quietly = TRUE))
    as.character(packageVersion("clubSandwich")) else NA,
  control = list(rma = ctrl, rma_mv = ctrl_mv, confint = ci_ctrl),
  datasets = datasets,
  cases = cases
)
dir.create("tests/stats/meta/fixtures", recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null",
                  pretty = FALSE),
           "tests/stats/meta/fixtures/meta_reference.json")
cat("wrote", length(cases), "cases\n")
