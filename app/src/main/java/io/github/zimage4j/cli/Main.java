package io.github.zimage4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code zimage4j} command line. */
@Command(name = "zimage4j",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Z-Image and Z-Image-Turbo text-to-image in native Java.",
        subcommands = {GenerateCommand.class, PreprocessCommand.class, InfoCommand.class, CheckCommand.class, ConvertCommand.class, BenchCommand.class,
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
            cmd.getErr().println("zimage4j: " + ex.getMessage());
            if (System.getenv("ZIMAGE4J_DEBUG") != null) {
                ex.printStackTrace(cmd.getErr());
            }
            return 1;
        });
        return cl;
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
