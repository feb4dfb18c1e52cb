package io.github.zimage4j.cli;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.Variant;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.server.Limits;
import io.github.zimage4j.server.ModelHost;
import io.github.zimage4j.server.ZImageServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code zimage4j serve}: the HTTP server and web page. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve a model over HTTP: the web page at /, OpenAI-compatible POST /v1/images/generations, "
                + "A1111-compatible POST /sdapi/v1/txt2img and GET /sdapi/v1/progress, and the job API under /api/jobs "
                + "(progress as server-sent events). GET /health answers 200 once the model is loaded, 503 before.",
                "Jobs run one at a time, first in first out; a full queue answers 429 with Retry-After.",
                ""})
final class ServeCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "MODEL",
            description = "A diffusers folder or Hugging Face repo id. Repeat to allow explicit switching (POST /api/model); the first is loaded.")
    List<String> models;

    @Option(names = "--transformer", paramLabel = "PATH", description = "Transformer weights for the first model.")
    Path transformer;

    @Option(names = "--text-encoder", paramLabel = "PATH", description = "Text encoder for the first model.")
    Path textEncoder;

    @Option(names = "--vae", paramLabel = "PATH", description = "VAE for the first model.")
    Path vae;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json for the first model.")
    Path tokenizer;

    @Option(names = "--variant", paramLabel = "turbo|base", description = "Force the variant (default: detected).")
    String variant;

    @Option(names = "--controlnet", paramLabel = "PATH", description = "A Z-Image Fun ControlNet Union file to load beside the transformer (enables control_image).")
    Path controlNet;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Interface to bind. Anything but loopback needs an API key. Default: ${DEFAULT-VALUE}.")
    String host;

    @Option(names = "--port", defaultValue = "7860", description = "Port (0 = any free one). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Bearer token every API call must send (default: $ZIMAGE4J_API_KEY; none on loopback).")
    String apiKey;

    @Option(names = "--output", defaultValue = "outputs", paramLabel = "DIR", description = "Folder for the images (created); the server writes nowhere else. Default: ${DEFAULT-VALUE}.")
    Path output;

    @Option(names = "--lora-dir", paramLabel = "DIR", description = "Folder of .safetensors LoRAs that requests may name (by file name).")
    Path loraDir;

    @Option(names = "--queue-size", defaultValue = "16", description = "Jobs that may wait behind the running one. Default: ${DEFAULT-VALUE}.")
    int queueSize;

    @Option(names = "--max-side", defaultValue = "2048", description = "Largest width or height. Default: ${DEFAULT-VALUE}.")
    int maxSide;

    @Option(names = "--max-pixels", defaultValue = "4194304", description = "Largest width × height. Default: ${DEFAULT-VALUE} (2048²).")
    long maxPixels;

    @Option(names = "--max-steps", defaultValue = "100", description = "Most steps per request. Default: ${DEFAULT-VALUE}.")
    int maxSteps;

    @Option(names = "--max-batch", defaultValue = "8", description = "Most images per request. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--max-prompt-chars", defaultValue = "4000", description = "Longest prompt. Default: ${DEFAULT-VALUE}.")
    int maxPromptChars;

    @Option(names = "--max-body-bytes", defaultValue = "33554432", description = "Largest request body. Default: ${DEFAULT-VALUE}.")
    int maxBodyBytes;

    @Mixin
    ComputeOptions compute;

    @Override
    public Integer call() throws Exception {
        compute.apply(System.err);
        String key = apiKey != null ? apiKey : System.getenv("ZIMAGE4J_API_KEY");
        Limits limits = new Limits(maxSide, maxPixels, maxSteps, maxBatch, maxPromptChars, maxBodyBytes);
        Variant forced = variant == null ? null : Variant.parse(variant);
        // Every model name is resolved now, so a typo fails before the server starts.
        Map<String, ModelFiles> files = new LinkedHashMap<>();
        for (int i = 0; i < models.size(); i++) {
            ModelFiles.Overrides o = i == 0 ? new ModelFiles.Overrides(transformer, textEncoder, vae, tokenizer)
                    : ModelFiles.Overrides.none();
            files.put(models.get(i), ModelFiles.resolve(models.get(i), o));
        }
        ModelHost modelHost = new ModelHost(models,
                name -> ZImagePipeline.load(files.get(name), new ZImagePipeline.Options(compute.backend, forced, controlNet, null)));
        ZImageServer server = ZImageServer.start(
                new ZImageServer.Config(host, port, key, output.toAbsolutePath(), limits, queueSize, loraDir), modelHost);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        System.err.printf("zimage4j serving %s at %s/ (%s) · images in %s%n", models.get(0), server.uri(),
                key != null ? "API key required" : "no API key: loopback only", output.toAbsolutePath());
        stopped.await();
        return 0;
    }
}
