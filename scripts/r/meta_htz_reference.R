# Reference values for the HTZ Wald test of bordin.stats.meta.robust (CR2), from R's metafor
# and clubSandwich.
#
# Run from the repository root:
#   Rscript scripts/r/meta_htz_reference.R
# Writes tests/stats/meta/fixtures/meta_htz_reference.json with the R, metafor, metadat and
# clubSandwich versions, the rows of every dataset used (so the tests need no R), and for
# each model: the fit, metafor's robust(..., clubSandwich = TRUE) (CR2, Satterthwaite df,
# HTZ omnibus test of the moderators: QM, QMdf, QMp) and clubSandwich's Wald_test() of
# sub-sets of the coefficients (HTZ and Naive-Fp with CR2; Naive-Fp with CR1p, which is
# metafor's default CR1 adjustment n / (n - p)).
#
# Convergence criteria are tightened far below metafor's defaults so that a comparison at
# 1e-6 relative is a comparison of definitions, not of where two optimisers stopped.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(clubSandwich)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-13, maxiter = 5000)
ctrl_mv <- list(rel.tol = 1e-12, iter.max = 5000, eval.max = 10000)

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

# A sub-set of coefficients (1-based indices, constrain_zero) or a constraint matrix given
# as a list of rows (recorded as "C"; e.g. constrain_equal's).
wald <- function(res, cluster, constraints, vcov, test) {
  if (is.list(constraints)) {
    C <- do.call(rbind, constraints)
    w <- Wald_test(res, cluster = cluster, vcov = vcov, test = test, constraints = C)
    out <- list(C = constraints)
  } else {
    w <- Wald_test(res, cluster = cluster, vcov = vcov, test = test,
                   constraints = constrain_zero(constraints))
    out <- list(constraints = constraints)
  }
  c(out, list(vcov = vcov, test = test, Fstat = num(w$Fstat), delta = num(w$delta),
              df_num = num(w$df_num), df_denom = num(w$df_denom), p_val = num(w$p_val)))
}

cases <- list()

# One case: the model, metafor's robust(clubSandwich = TRUE) and clubSandwich's Wald tests
# of the listed sub-sets (1-based indices of the coefficients, as constrain_zero).
add <- function(id, res, kind, dataset, cluster_col, cluster, mods, random = NULL,
                subsets = list()) {
  rb <- robust(res, cluster = cluster, clubSandwich = TRUE)
  out <- list(names = rownames(res$beta), k = res$k, p = res$p, beta = num(res$beta),
              tau2 = num(res$tau2), sigma2 = num(res$sigma2), btt = num(res$btt),
              rel_tol = attr(res, "rel_tol"))
  out$robust_cr2 <- list(vb = num(rb$vb), se = num(rb$se), dfs = num(rb$dfs),
                         pval = num(rb$pval), QM = num(rb$QM), QMdf = num(rb$QMdf),
                         QMp = num(rb$QMp), n = rb$n)
  tests <- list()
  for (s in subsets) {
    tests[[length(tests) + 1L]] <- wald(res, cluster, s, "CR2", "HTZ")
    tests[[length(tests) + 1L]] <- wald(res, cluster, s, "CR2", "Naive-Fp")
    tests[[length(tests) + 1L]] <- wald(res, cluster, s, "CR1p", "Naive-Fp")
  }
  out$wald <- tests
  cases[[length(cases) + 1L]] <<- list(id = id, kind = kind, dataset = dataset,
                                       method = res$method, mods = mods, random = random,
                                       cluster = cluster_col, result = out)
}

# ---- 1. dat.konstantopoulos2011: district/school, cluster = district ---------------------
ko <- dat.konstantopoulos2011
ko$year_c <- ko$year - 1990
ko$year_c2 <- ko$year_c^2
res <- fit_mv(function(ct) rma.mv(yi, vi, random = ~ 1 | district/school, data = ko,
                                  control = ct))
add("ko_mv_intercept", res, "rma.mv", "konstantopoulos2011", "district", ko$district,
    mods = NULL, random = c("district", "school"))
res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ year_c, random = ~ 1 | district/school,
                                  data = ko, control = ct))
add("ko_mv_year", res, "rma.mv", "konstantopoulos2011", "district", ko$district,
    mods = "year_c", random = c("district", "school"), subsets = list(1:2))
res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ year_c + year_c2,
                                  random = ~ 1 | district/school, data = ko, control = ct))
add("ko_mv_year_quad", res, "rma.mv", "konstantopoulos2011", "district", ko$district,
    mods = "year_c + year_c2", random = c("district", "school"),
    subsets = list(1:3, c(1, 3), 3))
res <- rma(yi, vi, mods = ~ year_c + year_c2, data = ko, method = "REML", control = ctrl)
add("ko_uni_year_quad", res, "rma.uni", "konstantopoulos2011", "district", ko$district,
    mods = "year_c + year_c2", subsets = list(1:2))

# ---- 2. dat.assink2016: effects in studies, cluster = study ------------------------------
# Only study 16 has covert delinquency: that cluster alone determines a coefficient (the
# generalised inverse square root of CR2).
as <- dat.assink2016
res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ factor(deltype) + year + pubstatus,
                                  random = ~ 1 | study/esid, data = as, control = ct))
add("assink_mv_deltype_year_pub", res, "rma.mv", "assink2016", "study", as$study,
    mods = "C(deltype) + year + pubstatus", random = c("study", "esid"),
    subsets = list(2:3, 4:5, c(1, 4), list(c(0, -1, 1, 0, 0))))
res <- fit_mv(function(ct) rma.mv(yi, vi, mods = ~ year + pubstatus,
                                  random = ~ 1 | study/esid, data = as, control = ct))
add("assink_mv_year_pub", res, "rma.mv", "assink2016", "study", as$study,
    mods = "year + pubstatus", random = c("study", "esid"), subsets = list(1:2))

# ---- 3. dat.bcg: log risk ratios (rma.uni), cluster = author -----------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "REML", control = ctrl)
add("bcg_uni_ablat_year", res, "rma.uni", "bcg", "author", bcg$author,
    mods = "ablat + year", subsets = list(c(1, 3), 2))
res <- rma(yi, vi, mods = ~ ablat + year + factor(alloc), data = bcg, method = "REML",
           control = ctrl)
add("bcg_uni_ablat_year_alloc", res, "rma.uni", "bcg", "author", bcg$author,
    mods = "ablat + year + C(alloc)",
    subsets = list(2:3, 4:5, c(2, 4, 5),
                   # constrain_equal(4:5): random and systematic allocation alike
                   list(c(0, 0, 0, -1, 1)),
                   # two general contrasts at once
                   list(c(0, 1, 0, 1, 0), c(0, 0, 2, 0, -1))))
res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "DL")
add("bcg_uni_ablat_year_DL", res, "rma.uni", "bcg", "author", bcg$author,
    mods = "ablat + year")

datasets <- list(
  konstantopoulos2011 = rows_of(ko),
  assink2016 = rows_of(as),
  bcg = rows_of(bcg)
)

out <- list(
  generated_by = "scripts/r/meta_htz_reference.R",
  R_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  clubSandwich_version = as.character(packageVersion("clubSandwich")),
  control = list(rma = ctrl, rma_mv = ctrl_mv),
  datasets = datasets,
  cases = cases
)
dir.create("tests/stats/meta/fixtures", recursive = TRUE, showWarnings = FALSE)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null",
                  pretty = FALSE),
           "tests/stats/meta/fixtures/meta_htz_reference.json")
cat("wrote", length(cases), "cases\n")
