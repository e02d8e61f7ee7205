"""Reporting: scores and GAP (`scores`), paired bootstrap (`bootstrap`), OLS of GAP on similarity
(`regression`), the regression gate (`gate`), reading lm-eval runs (`runs`), the leaderboard
(`leaderboard`), table rendering (`render`) and figures (`figures`). Import the module you need."""
