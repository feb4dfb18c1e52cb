package io.github.zimage4j.cli;

import io.github.zimage4j.bench.BenchResult;
import io.github.zimage4j.controlnet.ZImageControlNet;
import io.github.zimage4j.controlnet.ZImageControlNet.RefinerKind;
import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * {@code bench --components controlnet}: the extra time per denoising step (one transformer forward at
 * guidance 0) of each ControlNet layout, on full-size random weights. Union 1.0 and 2.1 are random files
 * with the published shapes; 2.0 is the 2.1 file without its refiner blocks (so the control layers run a
 * second time, as 2.0 does) and Lite the 2.1 file with control layers 0–2 only. The forwards run back to
 * back, the plain transformer first and last.
 */
final class ControlNetBench {

    /** Writes (once) a random checkpoint with these tensors and returns its path. */
    @FunctionalInterface
    interface CheckpointCache {
        Path get(String name, Map<String, long[]> shapes) throws IOException;
    }

    private ControlNetBench() {
    }

    static void run(Backend be, Path transformerWeights, ZImageTransformerConfig cfg, CheckpointCache cache, int px,
                    int captionTokens, long seed, PrintStream log, BenchResult result) throws Exception {
        Path v10 = cache.get("controlnet-union1.0", ZImageControlNet.expectedTensors(cfg, 16, 6, RefinerKind.PLAIN_BLOCKS));
        Path v21 = cache.get("controlnet-union2.1", ZImageControlNet.expectedTensors(cfg, 33, 15, RefinerKind.CONTROL_NOISE_REFINER));
        try (SafeTensors dit = SafeTensors.open(transformerWeights);
             SafeTensors f10 = SafeTensors.open(v10);
             SafeTensors f21 = SafeTensors.open(v21)) {
            ZImageTransformer model = new ZImageTransformer(dit, cfg, be);
            Random rnd = new Random(seed);
            int lat = px / 8;
            Tensor latent = BenchCommand.randomTensor(rnd, cfg.inChannels(), 1, lat, lat);
            Tensor cap = BenchCommand.randomTensor(rnd, captionTokens, cfg.capFeatDim());
            List<ZImageTransformer.Input> in = List.of(new ZImageTransformer.Input(latent, cap, 0.5f));
            String size = px + "x" + px;

            double warm = BenchCommand.time(() -> model.forward(in));
            log.printf("transformer %s first forward (cold): %.2f s%n", size, warm);
            double base = BenchCommand.time(() -> model.forward(in));
            log.printf("transformer %s: %.2f s%n", size, base);
            result.add(new BenchResult.Row("transformer", size, base, 0, 1, "plain, before the ControlNets"));

            List<ZImageControlNet> nets = List.of(
                    new ZImageControlNet(f10, null, cfg),
                    new ZImageControlNet(hide(f21, n -> n.startsWith("control_noise_refiner.")), null, cfg),
                    new ZImageControlNet(f21, null, cfg),
                    new ZImageControlNet(hide(f21, n -> n.startsWith("control_layers.") && layer(n) >= 3), null, cfg));
            for (ZImageControlNet net : nets) {
                Tensor ctx = BenchCommand.randomTensor(rnd, net.controlInDim(), 1, lat, lat);
                for (RefinerRouting routing : net.supportsInpaint() ? RefinerRouting.values() : new RefinerRouting[]{RefinerRouting.DIFFUSERS}) {
                    double s = BenchCommand.time(() -> model.forward(in, null, net.hook(List.of(ctx), 0.75, routing, null)));
                    String name = net.describeLayout() + (net.supportsInpaint() ? " (" + routing.name().toLowerCase() + ")" : "");
                    log.printf("%s %s: %.2f s (+%.2f s, +%.0f%%)%n", name, size, s, s - base, 100 * (s - base) / base);
                    result.add(new BenchResult.Row("controlnet " + name, size, s, 0, 1,
                            String.format("+%.2f s per step over the plain forward (+%.0f%%)", s - base, 100 * (s - base) / base)));
                }
            }
            double after = BenchCommand.time(() -> model.forward(in));
            log.printf("transformer %s again: %.2f s%n", size, after);
            result.add(new BenchResult.Row("transformer", size, after, 0, 1, "plain, after the ControlNets (drift check)"));
        }
    }

    private static int layer(String name) {
        String rest = name.substring("control_layers.".length());
        return Integer.parseInt(rest.substring(0, rest.indexOf('.')));
    }

    private static TensorSource hide(TensorSource base, Predicate<String> hidden) {
        Set<String> names = base.names().stream().filter(hidden.negate()).collect(Collectors.toCollection(java.util.LinkedHashSet::new));
        return new TensorSource() {
            @Override
            public String description() {
                return base.description() + " (subset)";
            }

            @Override
            public Set<String> names() {
                return names;
            }

            @Override
            public StoredTensor find(String name) {
                return names.contains(name) ? base.find(name) : null;
            }

            @Override
            public void close() {
            }
        };
    }
}
