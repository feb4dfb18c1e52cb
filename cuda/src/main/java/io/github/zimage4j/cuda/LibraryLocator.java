package io.github.zimage4j.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds the CUDA libraries on a Linux machine without asking Python or any other tool: the places a
 * toolkit, a driver package, a container runtime or pip's {@code nvidia-*} wheels put them.
 *
 * <p>Order for cuBLASLt and NVRTC: {@code CUDA_HOME}, {@code CUDA_PATH}, {@code LD_LIBRARY_PATH}, the
 * toolkits under {@code /usr/local} (newest first), Python wheels ({@code site-packages/nvidia/*\/lib} of
 * venvs, conda, the user's and the system's Pythons), the distribution's library folders, and last the
 * system loader by soname. For the driver the system loader comes first: libcuda must match the kernel
 * module, and the loader knows where the driver package put it. Toolkit {@code stubs} folders are never
 * used (their libcuda only reports "stub library").
 *
 * <p>System folders are resolved under {@code root} (normally {@code /}), so tests lay out fake machines
 * in temporary folders.
 */
public final class LibraryLocator {

    /** One place looked at: the pattern as shown to the user, and the folders it expanded to. */
    public record Place(String pattern, List<Path> folders) {
    }

    /** Something to hand to dlopen: a file found in a place, or a bare soname for the system loader. */
    public record Candidate(String target, boolean bySoname, String where) {
    }

    private final Map<String, String> env;
    private final Path root;
    private final Path home;
    private final boolean systemLoader;

    /**
     * @param env          environment variables (CUDA_HOME, CUDA_PATH, LD_LIBRARY_PATH, VIRTUAL_ENV, CONDA_PREFIX)
     * @param root         where system folders are resolved ({@code /} on a real machine)
     * @param home         the user's home (for ~/.local and ~/.pyenv)
     * @param systemLoader whether to also ask the system loader by soname (off in tests of fake layouts)
     */
    public LibraryLocator(Map<String, String> env, Path root, Path home, boolean systemLoader) {
        this.env = Map.copyOf(env);
        this.root = root;
        this.home = home;
        this.systemLoader = systemLoader;
    }

    /** This machine: the process environment, {@code /}, {@code user.home}, the system loader included. */
    public static LibraryLocator system() {
        return new LibraryLocator(System.getenv(), Path.of("/"), Path.of(System.getProperty("user.home")), true);
    }

    /** Every place looked at for {@code lib}, in order. */
    public List<Place> places(CudaLibrary lib) {
        List<String> patterns = new ArrayList<>();
        if (lib == CudaLibrary.DRIVER) {
            ldLibraryPath(patterns);
            for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64",
                    "/usr/local/nvidia/lib", "/usr/lib/wsl/lib")) {
                patterns.add(system(dir));
            }
            // Forward-compatibility drivers shipped with a toolkit: only when nothing else exists.
            envToolkit("CUDA_HOME", patterns, "compat");
            patterns.add(system("/usr/local/cuda/compat"));
            patterns.add(system("/usr/local/cuda-*/compat"));
        } else {
            envToolkit("CUDA_HOME", patterns, "lib64", "lib", "targets/x86_64-linux/lib");
            envToolkit("CUDA_PATH", patterns, "lib64", "lib", "targets/x86_64-linux/lib");
            ldLibraryPath(patterns);
            // Each toolkit's folders together, newest toolkit first; a glob that matches nothing is still listed.
            for (String toolkit : List.of("/usr/local/cuda", "/usr/local/cuda-*")) {
                List<Path> found = expand(system(toolkit));
                for (String sub : List.of("lib64", "lib", "targets/x86_64-linux/lib")) {
                    if (found.isEmpty()) {
                        patterns.add(system(toolkit + "/" + sub));
                    }
                }
                for (Path tk : found) {
                    for (String sub : List.of("lib64", "lib", "targets/x86_64-linux/lib")) {
                        patterns.add(tk.resolve(sub).toString());
                    }
                }
            }
            for (String site : sitePackages()) {
                patterns.add(site + "/nvidia/*/lib");
            }
            envFolder("CONDA_PREFIX", patterns, "lib");
            patterns.add(system("/opt/conda/lib"));
            for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")) {
                patterns.add(system(dir));
            }
        }
        List<Place> places = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (String p : patterns) {
            if (seen.add(p)) {
                places.add(new Place(p, expand(p)));
            }
        }
        return places;
    }

    /** The file behind symlinks (/usr/local/cuda → cuda-13.0), so one library is tried once. */
    private static Path identity(Path file) {
        try {
            return file.toRealPath();
        } catch (IOException e) {
            return file.toAbsolutePath().normalize();
        }
    }

    /** Files to try for {@code lib}, best first, then (for the driver: first) the sonames for the system loader. */
    public List<Candidate> candidates(CudaLibrary lib) {
        List<Candidate> found = new ArrayList<>();
        if (systemLoader && lib == CudaLibrary.DRIVER) {
            found.add(new Candidate(lib.soname(lib.majors().getFirst()), true, "the system loader"));
        }
        Set<Path> seen = new LinkedHashSet<>();
        for (Place place : places(lib)) {
            for (Path folder : place.folders()) {
                for (Path file : filesIn(folder, lib)) {
                    if (seen.add(identity(file))) {
                        found.add(new Candidate(file.toString(), false, place.pattern()));
                    }
                }
            }
        }
        if (systemLoader && lib != CudaLibrary.DRIVER) {
            for (int major : lib.majors()) {
                found.add(new Candidate(lib.soname(major), true, "the system loader"));
            }
        }
        return found;
    }

    /**
     * Loads {@code lib}: the first candidate dlopen accepts, for the life of the process.
     *
     * @throws CudaLibraryNotFoundException naming every place looked at and why each found file was refused
     */
    public Loaded load(CudaLibrary lib) {
        List<String> refused = new ArrayList<>();
        for (Candidate c : candidates(lib)) {
            try {
                if (lib == CudaLibrary.NVRTC && !c.bySoname()) {
                    preloadNvrtcBuiltins(Path.of(c.target()));
                }
                SymbolLookup lookup = c.bySoname()
                        ? SymbolLookup.libraryLookup(c.target(), Arena.global())
                        : SymbolLookup.libraryLookup(Path.of(c.target()), Arena.global());
                return new Loaded(lib, c, lookup);
            } catch (IllegalArgumentException | IllegalCallerException e) {
                if (!c.bySoname()) {
                    refused.add(c.target() + ": " + e.getMessage());
                }
            }
        }
        throw new CudaLibraryNotFoundException(lib, notFoundMessage(lib, refused));
    }

    /** A loaded library and where it came from. */
    public record Loaded(CudaLibrary library, Candidate from, SymbolLookup lookup) {
    }

    /**
     * NVRTC dlopens {@code libnvrtc-builtins.so.M.m} by soname at compile time; loading the one beside the
     * chosen libnvrtc first makes that lookup find it (the loader matches already loaded sonames) even when
     * the folder is on no search path, as in a pip wheel.
     */
    private static void preloadNvrtcBuiltins(Path nvrtc) {
        Path folder = nvrtc.getParent();
        if (folder == null) {
            return;
        }
        try (Stream<Path> files = Files.list(folder)) {
            files.filter(f -> f.getFileName().toString().matches("libnvrtc-builtins\\.so\\.\\d+(\\.\\d+)*"))
                    .sorted(Comparator.comparing(Path::toString).reversed())
                    .findFirst()
                    .ifPresent(b -> {
                        try {
                            SymbolLookup.libraryLookup(b, Arena.global());
                        } catch (IllegalArgumentException e) {
                            // NVRTC then reports the missing builtins itself, at compile time.
                        }
                    });
        } catch (IOException e) {
            // Unreadable folder: the libnvrtc load below reports it.
        }
    }

    String notFoundMessage(CudaLibrary lib, List<String> refused) {
        StringBuilder b = new StringBuilder();
        b.append(lib.title()).append(" (").append(lib.fileNames()).append(") could not be loaded.");
        if (systemLoader) {
            b.append("\nThe system loader (ld.so.cache, LD_LIBRARY_PATH) had no ");
            b.append(lib == CudaLibrary.DRIVER ? lib.soname(1) : lib.fileNames()).append('.');
        }
        b.append("\nLooked in:");
        for (Place p : places(lib)) {
            b.append("\n  ").append(p.pattern());
            if (p.folders().isEmpty()) {
                b.append(p.pattern().contains("*") ? "  (no match)" : "  (no such folder)");
            } else if (p.folders().stream().allMatch(f -> filesIn(f, lib).isEmpty())) {
                b.append("  (no ").append(lib.fileNames()).append(')');
            }
        }
        for (String e : unsetVariables(lib)) {
            b.append("\n  $").append(e).append("  (not set)");
        }
        if (!refused.isEmpty()) {
            b.append("\nFound but refused by the loader:");
            for (String r : refused) {
                b.append("\n  ").append(r);
            }
        }
        b.append("\nTo fix: ").append(lib.hint()).append('.');
        return b.toString();
    }

    private List<String> unsetVariables(CudaLibrary lib) {
        List<String> names = lib == CudaLibrary.DRIVER ? List.of("LD_LIBRARY_PATH")
                : List.of("CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX");
        return names.stream().filter(n -> blank(env.get(n))).toList();
    }

    // ---------------------------------------------------------------- places

    private String system(String absolute) {
        return root.resolve(absolute.substring(1)).toString();
    }

    private void envToolkit(String name, List<String> out, String... subs) {
        String v = env.get(name);
        if (!blank(v)) {
            for (String s : subs) {
                out.add(Path.of(v).resolve(s).toString());
            }
        }
    }

    private void envFolder(String name, List<String> out, String sub) {
        String v = env.get(name);
        if (!blank(v)) {
            out.add(Path.of(v).resolve(sub).toString());
        }
    }

    private void ldLibraryPath(List<String> out) {
        String v = env.get("LD_LIBRARY_PATH");
        if (!blank(v)) {
            for (String dir : v.split(":")) {
                if (!dir.isBlank() && Path.of(dir).isAbsolute()) {
                    out.add(Path.of(dir).normalize().toString());
                }
            }
        }
    }

    /** Python package folders where pip puts the nvidia-* wheels, most specific environment first. */
    private List<String> sitePackages() {
        List<String> out = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (!blank(v)) {
                out.add(Path.of(v).resolve("lib/python3*/site-packages").toString());
            }
        }
        out.add(home.resolve(".local/lib/python3*/site-packages").toString());
        out.add(home.resolve(".pyenv/versions/*/lib/python3*/site-packages").toString());
        out.add(system("/usr/local/lib/python3*/site-packages"));
        out.add(system("/usr/local/lib/python3*/dist-packages"));
        out.add(system("/usr/lib/python3*/site-packages"));
        out.add(system("/usr/lib/python3*/dist-packages"));
        out.add(system("/opt/conda/lib/python3*/site-packages"));
        return out;
    }

    /** Existing folders matching a path whose components may hold '*' (newest version first). */
    static List<Path> expand(String pattern) {
        Path p = Path.of(pattern);
        List<Path> current = new ArrayList<>();
        Path start = p.getRoot() != null ? p.getRoot() : Path.of("");
        current.add(start);
        for (Path part : p) {
            String name = part.toString();
            List<Path> next = new ArrayList<>();
            for (Path base : current) {
                if (name.contains("*")) {
                    List<Path> matches = new ArrayList<>();
                    if (Files.isDirectory(base)) {
                        try (DirectoryStream<Path> ds = Files.newDirectoryStream(base, name)) {
                            for (Path m : ds) {
                                if (Files.isDirectory(m)) {
                                    matches.add(m);
                                }
                            }
                        } catch (IOException e) {
                            // Unreadable folder: nothing matches there.
                        }
                    }
                    matches.sort(Comparator.comparing((Path m) -> m.getFileName().toString(), LibraryLocator::compareVersions)
                            .reversed());
                    next.addAll(matches);
                } else {
                    next.add(base.resolve(name));
                }
            }
            current = next;
        }
        return current.stream().filter(Files::isDirectory).filter(d -> !d.toString().contains("/stubs")).toList();
    }

    /** Library files of {@code lib} in one folder, best first. */
    static List<Path> filesIn(Path folder, CudaLibrary lib) {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(folder)) {
            s.filter(f -> lib.rank(f.getFileName().toString()).isPresent())
                    .filter(f -> Files.isRegularFile(f))
                    .forEach(files::add);
        } catch (IOException e) {
            return List.of();
        }
        files.sort(Comparator.comparingInt((Path f) -> rankOf(lib, f))
                .thenComparing(f -> f.getFileName().toString(), Comparator.reverseOrder()));
        return files;
    }

    private static int rankOf(CudaLibrary lib, Path f) {
        OptionalInt r = lib.rank(f.getFileName().toString());
        return r.orElse(Integer.MAX_VALUE);
    }

    /** Compares names with embedded numbers numerically: cuda-13.0 after cuda-9.2, python3.12 after python3.9. */
    static int compareVersions(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char ca = a.charAt(i);
            char cb = b.charAt(j);
            if (Character.isDigit(ca) && Character.isDigit(cb)) {
                int ei = i;
                while (ei < a.length() && Character.isDigit(a.charAt(ei))) {
                    ei++;
                }
                int ej = j;
                while (ej < b.length() && Character.isDigit(b.charAt(ej))) {
                    ej++;
                }
                int c = new java.math.BigInteger(a.substring(i, ei)).compareTo(new java.math.BigInteger(b.substring(j, ej)));
                if (c != 0) {
                    return c;
                }
                i = ei;
                j = ej;
            } else {
                if (ca != cb) {
                    return Character.compare(ca, cb);
                }
                i++;
                j++;
            }
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
