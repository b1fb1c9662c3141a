package labelfree;

import ij.IJ;
import ij.Macro;
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
        String error;
        try {
            error = h.run(arg, options);
        } catch (Throwable t) {
            error = "LabelFree " + arg + " failed: " + t;
        }
        if (error != null && error.length() > 0) {
            if (options != null || IJ.isMacro()) {
                // Inside a macro: no modal dialog; log the reason and stop the macro.
                IJ.log("LabelFree error: " + error);
                ij.macro.Interpreter.abort();
            } else {
                IJ.error("LabelFree", error);
            }
        }
    }
}
