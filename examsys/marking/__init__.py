"""The examiners' blueprint ("marking"): queue, scripts, the practical scoring sheet, adjudication, and the
station manager's marking setup of a session."""
