#@ LogService log

# LabelFree Doctor: checks Java, ImageJ/Fiji, pyimagej, torch, GPU and cellpose models.
from labelfree.imagej.fiji import run_doctor

run_doctor()
