"""The results blueprint ("results"): per-session results, review (综合评审) entry, publication, two-person
changes, exports, the candidate's score report, examiner statistics, pass rules and re-marking."""
