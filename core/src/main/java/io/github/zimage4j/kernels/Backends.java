package io.github.zimage4j.kernels;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;

/** Chooses a compute backend by name: "java", a provider's name, or "auto" (the best usable one). */
public final class Backends {

    private Backends() {
    }

    public static final String AUTO = "auto";

    private static List<BackendProvider> providers() {
        List<BackendProvider> out = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class).forEach(out::add);
        out.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return out;
    }

    /** Every backend name that can be asked for, usable here or not. */
    public static List<String> names() {
        List<String> names = new ArrayList<>(List.of(AUTO, JavaBackend.INSTANCE.name()));
        providers().forEach(p -> names.add(p.name()));
        return names;
    }

    /**
     * @throws IllegalArgumentException for an unknown name, or a known backend that cannot run here
     *                                  (the message says why)
     */
    public static Backend select(String name) {
        if (name == null || name.equals(AUTO)) {
            for (BackendProvider p : providers()) {
                if (p.unavailableReason() == null) {
                    return p.create();
                }
            }
            return JavaBackend.INSTANCE;
        }
        if (name.equals(JavaBackend.INSTANCE.name())) {
            return JavaBackend.INSTANCE;
        }
        for (BackendProvider p : providers()) {
            if (p.name().equals(name)) {
                String why = p.unavailableReason();
                if (why != null) {
                    throw new IllegalArgumentException("backend '" + name + "' cannot run here: " + why);
                }
                return p.create();
            }
        }
        throw new IllegalArgumentException("unknown backend '" + name + "'; choose one of " + names());
    }
}
