"""E-learning records (DESIGN.md, E-learning and help requests): learning statements in the
xAPI 1.0.3 wire format, the recommendations caseworkers give and where a learner resumes."""
