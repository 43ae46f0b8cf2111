"""Events (Termine): single dates, series, fair planning, leads, iCal."""
