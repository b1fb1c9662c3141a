#@ ImagePlus imp
#@ String (choices={"previous", "black"}, value="previous", description="What frame t is compared with. 'previous' (default): frame t-1, optical flow as the paper describes it. 'black': an all-zero frame, as the authors' MATLAB code does in effect (see docs/motion.md); the flow then measures structure.") flow_reference
#@ double (value=0.5, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") pyr_scale
#@ int (value=3, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") levels
#@ int (value=15, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") winsize
#@ int (value=3, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") iterations
#@ int (value=5, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") poly_n
#@ double (value=1.1, description="Farnebaeck parameters (OpenCV names): 0.5, 3 levels, 15 px window, 3 iterations, poly_n 5, poly_sigma 1.1, as the paper's code.") poly_sigma
#@ double (value=3.0, description="Gaussian sigma (px) applied to both frames before the flow (0 = none).") flow_blur
#@ int (value=1, description="Compute the flow on frames binned k x k (after the blur) and scale it back to full-size pixels; 1 = full resolution (the paper).") flow_downsample
#@ double (value=0.5, description="Non-uint8 movies are mapped to uint8 once per movie: these percentiles (of a frame subsample) become 0 and 255.") scale_low_percentile
#@ double (value=99.8, description="Non-uint8 movies are mapped to uint8 once per movie: these percentiles (of a frame subsample) become 0 and 255.") scale_high_percentile
#@ String (value="auto", description="Flow-magnitude thresholds (px/frame) for the cell and background training labels.") cell_threshold
#@ String (value="auto", description="Flow-magnitude thresholds (px/frame) for the cell and background training labels.") background_threshold
#@ String (value="auto", description="Speed (px/frame) where the automatic threshold searches start; None: the Otsu threshold of the pair's flow magnitude (the paper used a fixed 0.04).") start_threshold
#@ double (value=0.05, description="The cell threshold is lowered by this x the start per step (paper: 0.002 / 0.04).") cell_step_factor
#@ double (value=0.05, description="Auto background threshold never exceeds this x the cell start (paper: 0.002/0.04).") background_max_factor
#@ String (value="auto", description="Entropy sums (bits) that stop the threshold searches.") cell_extra_entropy
#@ String (value="auto", description="Entropy sums (bits) that stop the threshold searches.") background_entropy
#@ String (value="auto", description="Objects smaller than this (px) are removed; None: from a flow-only pass. min_size_fraction x the area-weighted median area of the moving objects (550 x pixels / 2e6 if none), as the paper's size filter.") min_size
#@ double (value=0.25, description="Automatic min_size as a fraction of the typical moving-object area (paper: 0.5 x mean).") min_size_fraction
#@ boolean (value=true, description="Lower the automatic min_size to fit the objects of the first classified frame.") refine_min_size
#@ String (value="auto", description="Flow threshold of the flow-only size pass; None: the start threshold.") size_estimate_threshold
#@ String (value="auto", description="Radius (px) of the disk used to close masks before filling holes (paper: 5); None: a fifth of the typical cell radius, from 1 to entropy_size // 2 + 1 px.") closing_radius
#@ boolean (value=false, description="Remove objects touching the image border, as the paper does (default off).") clear_border
#@ int (value=7, description="Local-entropy window (7, as the paper) and grey-level bins (power of two; 256 reproduces MATLAB exactly; the default 16 is ~10x faster and less saturated by noise).") entropy_size
#@ int (value=16, description="Local-entropy window (7, as the paper) and grey-level bins (power of two; 256 reproduces MATLAB exactly; the default 16 is ~10x faster and less saturated by noise).") entropy_bins
#@ String (value="entropy,gradient,intensity", description="Static features of frame t for the classifier (see labelfree.motion.FEATURES).") features
#@ double (value=0.5, description="Prior probability of *cell* in the classifier (default 0.5).") class_prior
#@ double (value=0.0, description="Gaussian sigma (px) of the smoothing of the classifier's log-odds before the cell/background decision (0 = per pixel, as the paper).") decision_smoothing
#@ int (value=20000, description="Training pixels per class subsampled for the classifier (0 = all).") max_training_pixels
#@ String (choices={"gaussian", "kernel"}, value="gaussian", description="Class densities of the Naive Bayes: normal per feature (the paper, MATLAB fitcnb default) or kernel densities (fitcnb 'kernel'; smoothed histograms, labelfree.motion.KernelNB), which follow a cell class that mixes bright bodies and dim protrusions.") classifier
#@ String (choices={"per_pair", "cumulative"}, value="per_pair", description="Train a fresh classifier per frame pair (paper), or keep updating one.") classifier_mode
#@ boolean (value=true, description="Re-decide the pixels near each object's outline with a second classifier on the smoothed grey level, trained on the objects' cores and the far background (labelfree.motion.refine_boundaries).") refine_boundary
#@ String (choices={"kernel", "gaussian"}, value="kernel", description="Class densities of the refinement's classifier (see classifier).") refine_classifier
#@ double (value=1.5, description="The refinement is skipped while the object cores and the far background differ in smoothed grey level by less than this many pooled standard deviations (labelfree.motion.grey_contrast), as the median over the movie's frames so far (fluorescence gives 2-3; phase contrast below 1, where the grey level would cut cells apart).") refine_min_contrast
#@ int (value=2, description="The band re-decided: refine_inner px inside to refine_outer px outside the outline.") refine_inner
#@ int (value=12, description="The band re-decided: refine_inner px inside to refine_outer px outside the outline.") refine_outer
#@ double (value=2.0, description="Gaussian sigma (px) of the grey level used by the refinement.") refine_sigma
#@ boolean (value=true, description="Split touching cells into instances (labelfree.motion.InstanceTracker).") declump
#@ double (value=0.8, description="Distance landscape (see declump_landscape): pieces of a split clump are merged again unless they meet at a neck narrower than this fraction of the thinner piece's width (labelfree.labels.declump), so that long, thin cells are not cut into slices (default 0.8: object F1 on Fluo-C2DL-MSC 0.30 -> 0.44, unchanged on SIM+ and GOWT1).") declump_neck_ratio
#@ boolean (value=true, description="Keep label IDs across frames by overlap matching.") track
#@ double (value=0.3, description="Smallest IoU that links an object to one of the previous frame.") track_min_iou
#@ String (choices={"False", "python", "fiji", "auto"}, value="False", description="Correct stage drift before the flow (labelfree.registration.correct_drift).") drift_correction
#@ int (value=0, description="Seed of the training-pixel subsampling.") seed
#@ String (choices={"auto", "intensity", "distance"}, value="auto", description="What a clump is split along when the movie gives no other evidence: the smoothed grey level ('intensity': touching cells are two bright bodies with a dimmer contact) or the distance to the background ('distance': the shape, pieces merged with declump_neck_ratio). 'auto': intensity while the movie's median grey contrast is at least refine_min_contrast (fluorescence), else distance (phase contrast).") declump_landscape
#@ double (value=0.7, description="Intensity landscape: two pieces stay apart only where the grey level between them falls below this fraction of the dimmer one's peak (above the background).") declump_dip_ratio
#@ boolean (value=true, description="Use the previous frame's objects, moved with the flow: cells seen apart are split along them when they touch, a cell seen whole stays whole (labelfree.motion.InstanceTracker).") declump_temporal
#@ String (choices={"append", "replace", "none"}, value="append", description="ROI Manager output") rois
#@ boolean (value=true, description="show a results table of the objects") table

# LabelFree Motion: Plugins > LabelFree. Generated by labelfree.imagej.scripts;
# the same keys work in a macro: run("LabelFree Motion", "key=value ...").
from labelfree.imagej.fiji import run_script

result = run_script("motion", imp, globals())
