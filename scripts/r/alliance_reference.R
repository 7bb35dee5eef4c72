# Reference values for bordin.alliance.
#
# Simulates one multi-site alliance data set in Bordin's tidy `administrations`
# layout (organization, clinician, patient, episode, session, instrument, rater,
# target, total, goal, task, bond), writes it into the fixture so that the tests
# need no R, and runs the analyses of the literature on it with base R, lme4,
# lmerTest and metafor:
#   association   cor.test, partial correlations from lm residuals
#   baldwin       lmerTest::lmer(post ~ between + within + baseline + (1|therapist))
#   therapist     lme4 REML variance components, ICC, profile-likelihood ICC CI,
#                 BLUPs with conditional SDs; clinic as a third level
#   longitudinal  lmerTest::lmer with person-mean-centred lagged predictors
#   ipd           per-site lmer, pooled with metafor::rma (REML)
#   moderator     metafor::rma meta-regression on the patient-to-therapist ratio
#
# Run from the repository root:  Rscript scripts/r/alliance_reference.R
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(metafor)
  library(jsonlite)
})

out <- list(
  R = R.version.string,
  packages = list(
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    metafor = as.character(packageVersion("metafor")),
    jsonlite = as.character(packageVersion("jsonlite"))
  )
)

# ---------------------------------------------------------------- simulate
set.seed(4242)
n_sites <- 5
rows <- list()
pid <- 0
for (s in seq_len(n_sites)) {
  n_ther <- 10 + s
  site_shift <- rnorm(1, 0, 0.8)
  for (t in seq_len(n_ther)) {
    ther <- sprintf("S%d-T%02d", s, t)
    caseload <- if (t == 1) 1 else sample(2:9, 1)   # one single-patient therapist per site
    u_all <- rnorm(1, 0, 0.45)                    # therapist's alliance-forming ability
    u_out <- rnorm(1, 0, 1.2)                     # therapist's outcome effect
    for (p in seq_len(caseload)) {
      pid <- pid + 1
      pat <- sprintf("P%04d", pid)
      a_dev <- rnorm(1, 0, 0.6)
      base <- rnorm(1, 17, 4)
      rate <- rnorm(1, 0.9, 0.5)                  # patient's own rate of improvement
      a_rate <- rnorm(1, 0.06, 0.08)              # patient's own alliance growth
      w_eff <- rnorm(1, -0.8, 0.35)               # patient's own within-person effect
      sessions <- seq_len(sample(6:9, 1))
      y <- base
      a_prev <- NA
      for (k in sessions) {
        a_fix <- 4.6 + u_all + a_dev + a_rate * k
        a <- a_fix - 0.05 * (y - base) + rnorm(1, 0, 0.35)
        g <- a + rnorm(1, 0, 0.3); tk <- a + rnorm(1, 0, 0.3); b <- a + rnorm(1, 0, 0.3)
        rows[[length(rows) + 1]] <- data.frame(
          organization = sprintf("site%d", s), clinician = ther, patient = pat,
          episode = paste0(pat, "-E1"), session = k, instrument = "PHQ-9",
          rater = "patient", target = NA_character_, total = round(y, 3),
          goal = NA_real_, task = NA_real_, bond = NA_real_)
        rows[[length(rows) + 1]] <- data.frame(
          organization = sprintf("site%d", s), clinician = ther, patient = pat,
          episode = paste0(pat, "-E1"), session = k, instrument = "WAI-SR",
          rater = "patient", target = "clinician", total = round((g + tk + b) / 3, 3),
          goal = round(g, 3), task = round(tk, 3), bond = round(b, 3))
        if (k %in% c(3, 4)) {
          ta <- 4.4 + 0.5 * u_all + 0.4 * a_dev + rnorm(1, 0, 0.4)
          rows[[length(rows) + 1]] <- data.frame(
            organization = sprintf("site%d", s), clinician = ther, patient = pat,
            episode = paste0(pat, "-E1"), session = k, instrument = "WAI-SR",
            rater = "clinician", target = "clinician", total = round(ta, 3),
            goal = round(ta + rnorm(1, 0, .3), 3), task = round(ta + rnorm(1, 0, .3), 3),
            bond = round(ta + rnorm(1, 0, .3), 3))
        }
        # Next symptom level: improvement, more with a better alliance (within and
        # between), and a therapist effect.
        y <- y - rate + w_eff * (a - a_fix) - 0.35 * a_dev -
          0.6 * u_all + site_shift * 0.1 + u_out * 0.25 + rnorm(1, 0, 1.6)
      }
    }
  }
}
adm <- do.call(rbind, rows)
adm$episode_key <- NULL
out$data <- list(administrations = adm)

# ---------------------------------------------------------------- patient-level table
phq <- adm[adm$instrument == "PHQ-9", ]
wai <- adm[adm$instrument == "WAI-SR", ]
eps <- unique(adm[, c("organization", "clinician", "patient", "episode")])
first <- aggregate(session ~ episode, phq, min)
last <- aggregate(session ~ episode, phq, max)
val <- function(d, ep, s) d$total[match(paste(ep, s), paste(d$episode, d$session))]
eps$baseline <- val(phq, eps$episode, first$session[match(eps$episode, first$episode)])
eps$post <- val(phq, eps$episode, last$session[match(eps$episode, last$episode)])
eps$prior <- val(phq, eps$episode, 2)
eps$prior_change <- eps$prior - eps$baseline
win <- function(rater, score) {
  d <- wai[wai$rater == rater & wai$session %in% c(3, 4), ]
  m <- aggregate(d[[score]], list(episode = d$episode), mean)
  m$x[match(eps$episode, m$episode)]
}
for (r in c("patient", "clinician")) for (sc in c("total", "goal", "task", "bond")) {
  eps[[paste(r, sc, sep = "_")]] <- win(r, sc)
}
out$patient_table <- eps

resid_r <- function(x, y, ctrl) {
  d <- if (is.null(ctrl)) data.frame(x = x, y = y) else data.frame(x = x, y = y, ctrl)
  d <- d[complete.cases(d), ]
  k <- ncol(d) - 2
  if (k == 0) {
    ct <- cor.test(d$x, d$y)
    return(list(r = unname(ct$estimate), lower = ct$conf.int[1], upper = ct$conf.int[2],
                p = ct$p.value, n = nrow(d), k = 0))
  }
  f <- paste(names(d)[-(1:2)], collapse = " + ")
  ex <- resid(lm(as.formula(paste("x ~", f)), d))
  ey <- resid(lm(as.formula(paste("y ~", f)), d))
  r <- cor(ex, ey)
  n <- nrow(d)
  z <- atanh(r); se <- 1 / sqrt(n - 3 - k)
  tstat <- r * sqrt((n - 2 - k) / (1 - r^2))
  list(r = r, lower = tanh(z - qnorm(.975) * se), upper = tanh(z + qnorm(.975) * se),
       p = 2 * pt(-abs(tstat), n - 2 - k), n = n, k = k)
}
assoc <- list()
for (r in c("patient", "clinician")) for (sc in c("total", "goal", "task", "bond")) {
  x <- eps[[paste(r, sc, sep = "_")]]
  key <- paste(r, sc, sep = "_")
  assoc[[key]] <- list(
    none = resid_r(x, eps$post, NULL),
    baseline = resid_r(x, eps$post, data.frame(baseline = eps$baseline)),
    baseline_prior_change = resid_r(x, eps$post, data.frame(baseline = eps$baseline,
                                                            prior_change = eps$prior_change)))
}
out$association <- assoc

# ---------------------------------------------------------------- Baldwin et al. (2007)
pt <- eps[!is.na(eps$patient_total), ]
pt$between <- ave(pt$patient_total, pt$clinician)
pt$within <- pt$patient_total - pt$between
fb <- lmer(post ~ within + between + baseline + (1 | clinician), data = pt, REML = TRUE)
cf <- summary(fb)$coefficients
V <- as.matrix(vcov(fb))
cvec <- setNames(rep(0, ncol(V)), colnames(V)); cvec["between"] <- 1; cvec["within"] <- -1
ct <- contest1D(fb, cvec)
ft <- lmer(post ~ patient_total + baseline + (1 | clinician), data = pt, REML = TRUE)
cft <- summary(ft)$coefficients
vc <- as.data.frame(VarCorr(fb))
out$baldwin <- list(
  terms = rownames(cf), estimate = unname(cf[, "Estimate"]), se = unname(cf[, "Std. Error"]),
  df = unname(cf[, "df"]), t = unname(cf[, "t value"]), p = unname(cf[, "Pr(>|t|)"]),
  difference = list(estimate = ct$Estimate, se = ct$`Std. Error`, df = ct$df,
                    t = ct$`t value`, p = ct$`Pr(>|t|)`),
  total = list(terms = rownames(cft), estimate = unname(cft[, "Estimate"]),
               se = unname(cft[, "Std. Error"]), df = unname(cft[, "df"]),
               p = unname(cft[, "Pr(>|t|)"])),
  varcomp = list(therapist = vc$vcov[1], residual = vc$vcov[2]),
  loglik = as.numeric(logLik(fb)), n = nrow(pt)
)

# ---------------------------------------------------------------- therapist effects
icc_of <- function(fit) {
  v <- as.data.frame(VarCorr(fit))$vcov
  v[1] / sum(v)
}
profile_icc <- function(formula, data) {
  # REML deviance profiled over beta and sigma is a function of theta = sd_b/sigma
  # alone; ICC = theta^2 / (1 + theta^2) is monotone in theta.
  dev <- lmer(formula, data = data, REML = TRUE, devFunOnly = TRUE)
  fit <- lmer(formula, data = data, REML = TRUE)
  th <- getME(fit, "theta")
  dmin <- dev(th)
  crit <- qchisq(.95, 1)
  g <- function(x) dev(x) - dmin - crit
  lo <- if (g(0) > 0) uniroot(g, c(0, th), tol = 1e-12)$root else 0
  hi <- uniroot(g, c(th, th * 10 + 5), tol = 1e-12)$root
  c(lo^2 / (1 + lo^2), hi^2 / (1 + hi^2))
}
te <- lmer(post ~ baseline + (1 | clinician), data = eps, REML = TRUE)
re <- ranef(te, condVar = TRUE)$clinician
out$therapist <- list(
  fixed = unname(fixef(te)),
  varcomp = list(therapist = as.data.frame(VarCorr(te))$vcov[1],
                 residual = as.data.frame(VarCorr(te))$vcov[2]),
  icc = icc_of(te), icc_profile_ci = profile_icc(post ~ baseline + (1 | clinician), eps),
  blup = list(clinician = rownames(re), estimate = re[, 1],
              se = sqrt(attr(re, "postVar")[1, 1, ])),
  caseload = as.list(table(eps$clinician)),
  loglik = as.numeric(logLik(te))
)
te0 <- lmer(post ~ 1 + (1 | clinician), data = eps, REML = TRUE)
out$therapist_unadjusted <- list(icc = icc_of(te0),
                                 icc_profile_ci = profile_icc(post ~ 1 + (1 | clinician), eps))
te3 <- lmer(post ~ baseline + (1 | organization / clinician), data = eps, REML = TRUE)
v3 <- as.data.frame(VarCorr(te3))
out$therapist_clinic <- list(
  grp = v3$grp, vcov = v3$vcov, fixed = unname(fixef(te3)), loglik = as.numeric(logLik(te3))
)

# ---------------------------------------------------------------- longitudinal (Curran & Bauer)
lw <- merge(
  phq[, c("organization", "clinician", "episode", "session", "total")],
  wai[wai$rater == "patient", c("episode", "session", "total")],
  by = c("episode", "session"), suffixes = c("_sym", "_all"))
lw <- lw[order(lw$episode, lw$session), ]
lw$sym_b <- ave(lw$total_sym, lw$episode)
lw$all_b <- ave(lw$total_all, lw$episode)
lw$sym_w <- lw$total_sym - lw$sym_b
lw$all_w <- lw$total_all - lw$all_b
nxt <- function(v, ep, s) {
  key <- paste(ep, s + 1)
  v[match(key, paste(ep, s))]
}
lw$sym_next <- nxt(lw$total_sym, lw$episode, lw$session)
lw$all_next <- nxt(lw$total_all, lw$episode, lw$session)
lag <- lw[!is.na(lw$sym_next), ]
fs <- lmer(sym_next ~ all_w + all_b + sym_w + sym_b + session + (1 | episode), data = lag,
           REML = TRUE)
fa <- lmer(all_next ~ sym_w + sym_b + all_w + all_b + session + (1 | episode), data = lag,
           REML = TRUE)
fx <- function(fit) {
  cf <- summary(fit)$coefficients
  vc <- as.data.frame(VarCorr(fit))
  list(terms = rownames(cf), estimate = unname(cf[, "Estimate"]),
       se = unname(cf[, "Std. Error"]), df = unname(cf[, "df"]), p = unname(cf[, "Pr(>|t|)"]),
       vcov = vc$vcov, loglik = as.numeric(logLik(fit)), n = nrow(model.frame(fit)))
}
fsr <- lmer(sym_next ~ all_w + all_b + sym_w + sym_b + session + (1 + all_w | episode),
            data = lag, REML = TRUE)
out$longitudinal <- list(alliance_to_symptoms = fx(fs), symptoms_to_alliance = fx(fa),
                         alliance_to_symptoms_slope = fx(fsr))

# ---------------------------------------------------------------- two-stage IPD
per_site <- lapply(split(lag, lag$organization), function(d) {
  f <- lmer(sym_next ~ all_w + all_b + sym_w + sym_b + session + (1 | episode), data = d,
            REML = TRUE)
  cf <- summary(f)$coefficients
  c(est = cf["all_w", "Estimate"], se = cf["all_w", "Std. Error"])
})
ps <- do.call(rbind, per_site)
m_ipd <- rma(yi = ps[, "est"], sei = ps[, "se"], method = "REML")
# Association route: per-site correlation of early patient alliance with post, Fisher z.
per_site_r <- lapply(split(eps, eps$organization), function(d) {
  ok <- complete.cases(d$patient_total, d$post)
  c(r = cor(d$patient_total[ok], d$post[ok]), n = sum(ok))
})
pr <- do.call(rbind, per_site_r)
m_ipd_r <- rma(yi = atanh(pr[, "r"]), vi = 1 / (pr[, "n"] - 3), method = "REML")
rm_out <- function(m) list(beta = unname(as.numeric(m$beta)), se = m$se, ci_lb = m$ci.lb,
                           ci_ub = m$ci.ub, tau2 = m$tau2, I2 = m$I2, QE = m$QE,
                           pval = m$pval)
out$ipd <- list(
  site = rownames(ps), estimate = unname(ps[, "est"]), se = unname(ps[, "se"]),
  pooled = rm_out(m_ipd),
  site_r = rownames(pr), r = unname(pr[, "r"]), n = unname(pr[, "n"]),
  pooled_r = rm_out(m_ipd_r)
)

# ---------------------------------------------------------------- moderator (Del Re et al.)
set.seed(99)
k <- 40
n <- sample(30:400, k, replace = TRUE)
n_ther <- pmax(1, round(n / runif(k, 1, 40)))
ratio <- n / n_ther
zt <- atanh(0.33) - 0.004 * ratio + rnorm(k, 0, 0.06)
r <- round(tanh(zt + rnorm(k, 0, sqrt(1 / (n - 3)))), 3)
studies <- data.frame(study = sprintf("study%02d", seq_len(k)), r = r, n = n,
                      n_therapists = n_ther, year = sample(1990:2020, k, replace = TRUE))
studies$ratio <- studies$n / studies$n_therapists
mm <- rma(yi = atanh(r), vi = 1 / (n - 3), mods = ~ ratio, data = studies, method = "REML")
mk <- rma(yi = atanh(r), vi = 1 / (n - 3), mods = ~ ratio, data = studies, method = "REML",
          test = "knha")
mr <- function(m) list(beta = unname(as.numeric(m$beta)), se = m$se, ci_lb = m$ci.lb,
                       ci_ub = m$ci.ub, pval = m$pval, tau2 = m$tau2, QM = m$QM, QMp = m$QMp,
                       QE = m$QE, I2 = m$I2, R2 = m$R2)
out$moderator <- list(studies = studies, z = mr(mm), knha = mr(mk))

dir.create("tests/alliance/fixtures", recursive = TRUE, showWarnings = FALSE)
write_json(out, "tests/alliance/fixtures/alliance_reference.json",
           digits = NA, auto_unbox = TRUE, dataframe = "columns", na = "null")
cat("wrote tests/alliance/fixtures/alliance_reference.json\n")
