package io.github.zimage4j.io;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Compares the tensors a checkpoint holds with the tensors its config implies, and lists every missing,
 * unexpected and mis-shaped one: a user with a wrong or damaged file sees the whole problem at once.
 */
public final class CheckpointCheck {

    private CheckpointCheck() {
    }

    /** One mis-shaped tensor. */
    public record Mismatch(String name, long[] expected, long[] found) {
        @Override
        public String toString() {
            return name + ": expected " + Arrays.toString(expected) + ", found " + Arrays.toString(found);
        }
    }

    /** The outcome of a check. */
    public record Report(String source, List<String> missing, List<String> unexpected, List<Mismatch> misShaped) {
        public boolean ok() {
            return missing.isEmpty() && unexpected.isEmpty() && misShaped.isEmpty();
        }

        /** Throws a {@link ModelFileException} listing every problem unless the check passed. */
        public void throwIfFailed() throws ModelFileException {
            if (!ok()) {
                throw new ModelFileException(toString());
            }
        }

        @Override
        public String toString() {
            if (ok()) {
                return source + ": all tensors present with the expected shapes";
            }
            StringBuilder sb = new StringBuilder(source).append(" does not match its config:");
            if (!missing.isEmpty()) {
                sb.append("\n  missing (").append(missing.size()).append("): ").append(limit(missing));
            }
            if (!unexpected.isEmpty()) {
                sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(limit(unexpected));
            }
            if (!misShaped.isEmpty()) {
                sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(limit(misShaped));
            }
            return sb.toString();
        }

        private static String limit(List<?> items) {
            int show = 20;
            List<?> head = items.size() > show ? items.subList(0, show) : items;
            String s = String.join(", ", head.stream().map(Object::toString).toList());
            return items.size() > show ? s + ", … (" + (items.size() - show) + " more)" : s;
        }
    }

    /**
     * @param source   what is being checked, for the report
     * @param expected name → shape the config implies
     * @param found    name → shape the checkpoint holds
     * @param ignored  names in the checkpoint that are known to be harmless extras
     */
    public static Report compare(String source, Map<String, long[]> expected, Map<String, long[]> found, List<String> ignored) {
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<Mismatch> misShaped = new ArrayList<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            long[] f = found.get(e.getKey());
            if (f == null) {
                missing.add(e.getKey());
            } else if (!Arrays.equals(f, e.getValue())) {
                misShaped.add(new Mismatch(e.getKey(), e.getValue(), f));
            }
        }
        for (String name : found.keySet()) {
            if (!expected.containsKey(name) && !ignored.contains(name)) {
                unexpected.add(name);
            }
        }
        missing.sort(null);
        unexpected.sort(null);
        misShaped.sort((a, b) -> a.name().compareTo(b.name()));
        return new Report(source, missing, unexpected, misShaped);
    }
}
