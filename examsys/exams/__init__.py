"""The station manager's blueprint ("exams"): exam sessions (考试场次), roster import, admission tickets."""
