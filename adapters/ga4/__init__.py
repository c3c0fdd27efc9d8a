"""Google Analytics 4: the lead funnel sent to a property through the Measurement Protocol."""
