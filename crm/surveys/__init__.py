"""Needs surveys (Bedarfsanalysen): versioned questionnaires sent to organisations in rounds
with personal links; the answers of the needs matrix become qualification needs."""
