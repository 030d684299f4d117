"""E-learning in the signalling service: the module catalog read from the content folder, the
Markdown pages rendered and sanitised, and the learner's progress recorded as xAPI."""
