"""Stage 6, voice: the cue scheduler (policy), speakers (delivery) and the offline recorder."""
