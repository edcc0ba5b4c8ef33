import Simulation

// Adherence statistics (binomial confidence bounds, early stopping) and the HTML/SVG report.
