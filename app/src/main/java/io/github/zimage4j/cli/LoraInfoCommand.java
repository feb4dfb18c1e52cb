package io.github.zimage4j.cli;

import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.lora.LoraFile;
import io.github.zimage4j.lora.LoraTensorSource;
import io.github.zimage4j.tensor.Adapter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code zimage4j lora-info FILE…}: what a LoRA file holds and where it would land. */
@Command(name = "lora-info", mixinStandardHelpOptions = true,
        description = {"Show a LoRA file's key format, dtype, rank, alpha, the modules it targets (layer numbers as *) and "
                + "any keys that fit no weight of the Z-Image transformer (those make `generate --lora` fail unless "
                + "--lora-ignore-unmatched)."})
final class LoraInfoCommand implements Callable<Integer> {

    @Parameters(arity = "1..*", paramLabel = "FILE", description = "LoRA .safetensors files.")
    List<Path> files;

    @Override
    public Integer call() throws Exception {
        Map<String, long[]> shapes = ZImageTransformerConfig.published().expectedTensors();
        for (Path file : files) {
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(file + " is not a file");
            }
            LoraFile f = LoraFile.read(file);
            System.out.println(file);
            System.out.println("  format:     " + f.format() + ", " + f.dtype() + ", " + f.tensorCount() + " tensors, "
                    + f.modules().size() + " modules");
            Map<String, int[]> targets = new TreeMap<>();
            Map<String, Integer> ranks = new TreeMap<>();
            for (LoraFile.Module m : f.modules()) {
                String kind = m.adapter() instanceof Adapter.Kronecker ? "LoKr" : "LoRA";
                String alpha = Double.isNaN(m.alpha()) ? "-" : trim(m.alpha());
                ranks.merge(kind + " rank " + (m.rank() == 0 ? "full" : m.rank()) + ", alpha " + alpha + " (" + m.alphaSource() + ")",
                        1, Integer::sum);
                targets.computeIfAbsent(m.target().replaceAll("\\.\\d+\\.", ".*."), k -> new int[1])[0]++;
            }
            ranks.forEach((r, n) -> System.out.println("  " + r + ": " + n + " modules"));
            System.out.println("  targets:");
            targets.forEach((t, n) -> System.out.println("    " + t + (n[0] > 1 ? "  (" + n[0] + ")" : "")));
            if (!f.skippedDuplicates().isEmpty()) {
                System.out.println("  skipped duplicates (" + f.skippedDuplicates().size() + " keys, the same update as the separate"
                        + " entries): " + String.join(", ", f.skippedDuplicates()));
            }
            List<String> unplaced = LoraTensorSource.unplacedKeys(f, shapes);
            System.out.println("  unplaced keys (" + unplaced.size() + ")" + (unplaced.isEmpty() ? "" : ":"));
            unplaced.forEach(k -> System.out.println("    " + k));
        }
        return 0;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
