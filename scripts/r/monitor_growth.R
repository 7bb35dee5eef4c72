# Reference fit for bordin.monitor's expected-recovery curves.
# Reads tests/monitor/fixtures/growth_data.csv (PHQ-9 totals by episode and session),
# builds the follow-up rows exactly as bordin.monitor.not_on_track does (intake = first
# session's score, log_session = log(session - intake_session + 1), follow-ups only),
# fits score ~ log_session * intake + (1 + log_session | episode) by REML with lme4,
# and writes tests/monitor/fixtures/monitor_growth.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
d <- read.csv("tests/monitor/fixtures/growth_data.csv")
d <- d[order(d$episode, d$session), ]
first <- !duplicated(d$episode)
intake <- d$total[first]; names(intake) <- d$episode[first]
intake_s <- d$session[first]; names(intake_s) <- d$episode[first]
d$intake <- intake[d$episode]
d$intake_session <- intake_s[d$episode]
f <- d[d$session > d$intake_session, ]
f$log_session <- log(f$session - f$intake_session + 1)
m <- lmer(total ~ log_session * intake + (1 + log_session | episode), data = f, REML = TRUE,
          control = lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))
vc <- as.data.frame(VarCorr(m))
G <- matrix(c(vc$vcov[1], vc$vcov[3], vc$vcov[3], vc$vcov[2]), 2, 2)
out <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  n_obs = nrow(f), n_episodes = length(unique(f$episode)),
  fixed = as.list(fixef(m)),
  cov_re = G,
  sigma2 = sigma(m)^2,
  reml_criterion = as.numeric(REMLcrit(m))
)
write_json(out, "tests/monitor/fixtures/monitor_growth.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
