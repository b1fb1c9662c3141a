package labelfree;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.plugin.PlugIn;


/**
 * ImageJ 1.x menu command that hands over to LabelFree's Python command machinery.
 *
 * Registered in ij.Menus as labelfree.LabelFreeCommand("threshold") etc.; the
 * argument names the LabelFree command. Python installs a Handler (a JPype proxy)
 * when it starts the JVM; the handler reads the macro options itself.
 */
public class LabelFreeCommand implements PlugIn {

    /** Implemented in Python; returns null on success or an error message. */
    public interface Handler {
        String run(String command, String options);
    }

    private static volatile Handler handler;

    public static void setHandler(Handler h) {
        handler = h;
    }

    public static boolean hasHandler() {
        return handler != null;
    }

    public void run(String arg) {
        Handler h = handler;
        if (h == null) {
            IJ.error("LabelFree", "LabelFree commands run only when ImageJ was started from Python "
                + "with labelfree.imagej.start(); in Fiji use Plugins > LabelFree.");
            return;
        }
        String options = Macro.getOptions();
        ImagePlus input = WindowManager.getCurrentImage();
        String error;
        try {
            error = h.run(arg, options);
        } catch (Throwable t) {
            error = "LabelFree " + arg + " failed: " + t;
        }
        if (error == null || error.length() == 0) {
            if ("Process > Batch > Virtual Stack".equals(batchCommand())) {
                resultInPlace(input);
            }
            return;
        }
        if (options != null || IJ.isMacro()) {
            // Inside a macro: no modal dialog; log the reason and stop the macro.
            IJ.log("LabelFree error: " + error);
            String batch = batchCommand();
            if (batch != null && skipBatchOutput()) {
                // the batch processor would save the active image, still the input, as this image's result:
                // it saves nothing for it and goes on with the next image, as after ImageJ's own errors
                // (Esc, which cancels the command, also stops the batch)
                String title = input == null ? "this image" : input.getTitle();
                IJ.log(batch + ": " + (IJ.escapePressed()
                    ? "stopped (Esc) at " + title + "; nothing was saved for it."
                    : title + " failed, so nothing was saved for it (not the unsegmented input); the batch "
                        + "goes on with the next image. " + (batch.endsWith("Macro")
                            ? "Fix or remove that file, then process it alone (File name contains: " + title + ")."
                            : "The output stack lacks that slice.")));
            }
            ij.macro.Interpreter.abort();
        } else {
            IJ.error("LabelFree", error);
        }
    }

    /**
     * The menu path of ImageJ's batch processor when this command runs inside its macro code
     * ("Process > Batch > Macro" or "Process > Batch > Virtual Stack"), null otherwise.
     */
    static String batchCommand() {
        String found = null;
        for (StackTraceElement frame : Thread.currentThread().getStackTrace()) {
            if ("ij.plugin.BatchProcessor".equals(frame.getClassName())) {
                if ("processVirtualStack".equals(frame.getMethodName())) {
                    return "Process > Batch > Virtual Stack";
                }
                found = "Process > Batch > Macro";
            }
        }
        return found;
    }

    /**
     * Process > Batch > Virtual Stack saves the slice image it gave the macro code, which ImageJ's own commands
     * change in place; a LabelFree command makes a new image (the current one now). Its pixels, calibration and
     * provenance go into the slice image, so that the batch saves the result and not the unchanged slice.
     */
    static void resultInPlace(ImagePlus input) {
        ImagePlus result = WindowManager.getCurrentImage();
        if (input == null || result == null || result == input || result.getStackSize() != 1) {
            return;
        }
        input.setProcessor(result.getProcessor());
        input.setCalibration(result.getCalibration());
        Object info = result.getProperty("Info");
        if (info != null) {
            input.setProperty("Info", info);
        }
    }

    /**
     * Tell ImageJ's batch processor not to save the output of the image being processed (what the macro
     * function setOption("SaveBatchOutput", false) does); false where this ImageJ has no such switch.
     */
    static boolean skipBatchOutput() {
        try {
            Class.forName("ij.plugin.BatchProcessor").getMethod("saveOutput", boolean.class).invoke(null, false);
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
