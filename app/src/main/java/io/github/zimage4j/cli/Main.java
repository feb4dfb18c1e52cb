package io.github.zimage4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code zimage4j} command line. */
@Command(name = "zimage4j",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Z-Image and Z-Image-Turbo text-to-image in native Java.",
        subcommands = {GenerateCommand.class, BatchCommand.class, PreprocessCommand.class, InfoCommand.class, CheckCommand.class, ConvertCommand.class, BenchCommand.class,
                PullCommand.class, QuantizeCommand.class,
                TinyModelCommand.class, ServeCommand.class, LoraInfoCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, shared by main and the tests. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            // Expected failures (bad files, bad options) get one clear line, not a stack trace.
            cmd.getErr().println("zimage4j: " + describe(ex));
            if (System.getenv("ZIMAGE4J_DEBUG") != null) {
                ex.printStackTrace(cmd.getErr());
            }
            return 1;
        });
        return cl;
    }

    /** The message of an expected failure; file system errors get their reason in words (their message is often only a path). */
    static String describe(Throwable ex) {
        if (ex instanceof java.nio.file.FileSystemException fse) {
            String file = fse.getFile() == null ? "" : fse.getFile() + ": ";
            String other = fse.getOtherFile() == null ? "" : " (" + fse.getOtherFile() + ")";
            return file + io.github.zimage4j.io.Paths.reason(fse) + other;
        }
        String m = ex.getMessage();
        if (ex instanceof java.io.IOException && m != null && m.contains("No space left on device")) {
            return m.replace("No space left on device", "no space left on the device");
        }
        return m == null ? ex.toString() : m;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"zimage4j " + (v == null ? "(development build)" : v),
                    "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
