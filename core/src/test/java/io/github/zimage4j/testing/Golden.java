package io.github.zimage4j.testing;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Access to the golden reference cases: the root comes from {@code -Dzimage.golden=DIR} (default
 * {@code ../shared/golden} from the project root). A missing root or an empty section fails loudly;
 * nothing is skipped.
 */
public final class Golden {

    private Golden() {
    }

    public static Path root() {
        String prop = System.getProperty("zimage.golden");
        Path p;
        if (prop == null || prop.isBlank()) {
            p = projectRoot().resolve("../shared/golden");
        } else {
            p = Path.of(prop);
            if (!p.isAbsolute()) {
                // Relative paths are taken from the project root, not the module folder surefire runs in.
                p = projectRoot().resolve(prop);
            }
        }
        p = p.normalize();
        if (!Files.isDirectory(p)) {
            fail("golden root " + p + " does not exist; pass -Dzimage.golden=DIR");
        }
        return p;
    }

    /**
     * The shared golden set ({@code ../shared/golden} beside the project), whatever {@code -Dzimage.golden}
     * names: for tests that need one particular fixture (the real model's manifests, the published
     * tokenizer, one specific tiny model) rather than every case of a set.
     */
    public static Path shared() {
        Path p = projectRoot().resolve("../shared/golden").normalize();
        if (!Files.isDirectory(p)) {
            fail("the shared golden set " + p + " does not exist");
        }
        return p;
    }

    /** One fixture of the shared set, e.g. {@code manifests/case-zimage-real/vae}; fails when it is absent. */
    public static Path fixture(String relative) {
        Path p = shared().resolve(relative);
        if (!Files.exists(p)) {
            fail("the fixture " + p + " does not exist");
        }
        return p;
    }

    /** {@code tests}, failing when there are none: a case set without any case of a kind tests nothing. */
    public static <T> List<T> atLeastOne(List<T> tests, String what) {
        if (tests.isEmpty()) {
            fail("no " + what + " under " + root());
        }
        return tests;
    }

    /** The repository root: the nearest parent folder holding mvnw. */
    public static Path projectRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("mvnw"))) {
                return d;
            }
        }
        return dir;
    }

    /** Every {@code case-*} folder under {@code section}, sorted; fails when there are none. */
    public static List<Path> cases(String section) {
        Path dir = root().resolve(section);
        if (!Files.isDirectory(dir)) {
            fail("golden section " + dir + " does not exist");
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> out = s.filter(Files::isDirectory)
                    .filter(p -> p.getFileName().toString().startsWith("case-"))
                    .sorted().toList();
            if (out.isEmpty()) {
                fail("no case-* folders under " + dir);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Map<String, Object> meta(Path caseDir) {
        try {
            return Json.parseObject(caseDir.resolve("meta.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code meta.recommended_tolerance.key}, failing when absent. */
    public static double tolerance(Map<String, Object> meta, String key) {
        Object tol = meta.get("recommended_tolerance");
        if (tol instanceof Map<?, ?> m && m.get(key) instanceof Number n) {
            return n.doubleValue();
        }
        fail("meta.json has no recommended_tolerance." + key);
        return 0;
    }

    public static SafeTensors open(Path file) {
        try {
            return SafeTensors.open(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Tensor tensor(SafeTensors st, String name) {
        StoredTensor t = st.find(name);
        if (t == null) {
            fail(st.description() + " has no tensor " + name);
        }
        return t.toTensor();
    }
}
