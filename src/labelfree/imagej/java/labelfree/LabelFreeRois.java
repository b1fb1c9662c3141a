package labelfree;

import ij.gui.PolygonRoi;
import ij.gui.Roi;
import ij.gui.ShapeRoi;
import ij.plugin.frame.RoiManager;
import java.awt.EventQueue;
import java.awt.GraphicsEnvironment;
import java.lang.reflect.Method;

/**
 * Builds many ImageJ ROIs in one call (LabelFree's labels_to_roimanager).
 *
 * Object i uses coords[offsets[i] .. offsets[i] + lengths[i]): for a traced polygon
 * (shape[i] == 0) the vertices x0, y0, x1, y1, ...; for a composite ROI (shape[i] == 1)
 * java.awt.geom path segments (0 = MOVETO x y, 1 = LINETO x y, 4 = CLOSE), as in
 * ImageJ's ShapeRoi(float[]). Position: c[i] > 0 or t[i] > 0 gives the hyperstack
 * position setPosition(c[i], z[i], t[i]) (c 0: any channel), else z[i] > 0 gives the
 * stack position setPosition(z[i]). Group and property are set where this ImageJ has
 * them (groups: 1.52t+).
 *
 * addAll empties (replace) and fills a visible ROI Manager on the event dispatch
 * thread, so that its Swing list is not changed while it is being painted; open
 * empties it and opens a ROI file into it there.
 */
public class LabelFreeRois {

    private static Method method(String name, Class<?>... types) {
        try {
            return Roi.class.getMethod(name, types);
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    /** The ROIs without a channel (c[i] = 0 for all): the signature of earlier versions. */
    public static Roi[] build(float[] coords, int[] offsets, int[] lengths, int[] shape, String[] names,
                              int[] labels, int[] z, int[] t, int[] groups) throws Exception {
        return build(coords, offsets, lengths, shape, names, labels, new int[offsets.length], z, t, groups);
    }

    public static Roi[] build(float[] coords, int[] offsets, int[] lengths, int[] shape, String[] names,
                              int[] labels, int[] c, int[] z, int[] t, int[] groups) throws Exception {
        Method setGroup = method("setGroup", int.class);
        Method setProperty = method("setProperty", String.class, String.class);
        Roi[] rois = new Roi[offsets.length];
        for (int i = 0; i < offsets.length; i++) {
            int start = offsets[i];
            int length = lengths[i];
            Roi roi;
            if (shape[i] == 0) {
                int n = length / 2;
                int[] xs = new int[n];
                int[] ys = new int[n];
                for (int k = 0; k < n; k++) {
                    xs[k] = (int) coords[start + 2 * k];
                    ys[k] = (int) coords[start + 2 * k + 1];
                }
                roi = new PolygonRoi(xs, ys, n, Roi.TRACED_ROI);
            } else {
                float[] path = new float[length];
                System.arraycopy(coords, start, path, 0, length);
                roi = new ShapeRoi(path);
            }
            roi.setName(names[i]);
            if (c[i] > 0 || t[i] > 0) {
                roi.setPosition(c[i], z[i], t[i]);
            } else if (z[i] > 0) {
                roi.setPosition(z[i]);
            }
            if (setProperty != null) {
                setProperty.invoke(roi, "label", Integer.toString(labels[i]));
            }
            if (setGroup != null && groups[i] > 0) {
                setGroup.invoke(roi, groups[i]);
            }
            rois[i] = roi;
        }
        return rois;
    }

    public static void addAll(final RoiManager rm, final Roi[] rois, final boolean replace) throws Exception {
        Runnable add = new Runnable() {
            public void run() {
                if (replace) {
                    rm.reset();
                }
                for (Roi roi : rois) {
                    rm.add(roi, -1);
                }
            }
        };
        onEventThread(rm, add);
    }

    /** Empties the manager (replace) and opens a ROI file (.roi or .zip) into it; a null path opens none. */
    public static boolean open(final RoiManager rm, final String path, final boolean replace) throws Exception {
        final boolean[] opened = {true};
        onEventThread(rm, new Runnable() {
            public void run() {
                if (replace) {
                    rm.reset();
                }
                if (path != null) {
                    opened[0] = rm.open(path);
                }
            }
        });
        return opened[0];
    }

    private static void onEventThread(RoiManager rm, Runnable task) throws Exception {
        if (GraphicsEnvironment.isHeadless() || EventQueue.isDispatchThread() || !rm.isVisible()) {
            task.run();
        } else {
            EventQueue.invokeAndWait(task);
        }
    }
}
