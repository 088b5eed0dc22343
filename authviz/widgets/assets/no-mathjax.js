// Served in place of MathJax from a CDN: the dashboard renders no formulas and stays offline.
