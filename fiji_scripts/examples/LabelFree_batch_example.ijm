// Segment every TIFF of a folder with LabelFree Motion and save labels, ROIs and the table.
// Works in Fiji (Plugins > LabelFree) and in ImageJ 1.x driven by labelfree.imagej.start().
input = getDirectory("Folder with time-lapse TIFFs");
output = getDirectory("Output folder");
setBatchMode(true);
files = getFileList(input);
for (i = 0; i < files.length; i++) {
    if (!endsWith(files[i], ".tif")) continue;
    open(input + files[i]);
    title = getTitle();
    run("LabelFree Motion", "rois=replace table=true");   // defaults for every other key
    selectImage(title + "-labels");
    saveAs("Tiff", output + replace(files[i], ".tif", "_labels.tif"));
    roiManager("save", output + replace(files[i], ".tif", "_rois.zip"));
    // the table as ImageJ shows it: Label = ROI name, frame and z from 1 (labelfree batch's CSV counts from 0)
    Table.save(output + replace(files[i], ".tif", "_table.csv"), title + "-objects");
    close("*");
}
setBatchMode(false);
