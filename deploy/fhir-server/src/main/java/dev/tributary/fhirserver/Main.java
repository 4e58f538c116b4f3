package dev.tributary.fhirserver;

import ca.uhn.fhir.rest.server.RestfulServer;
import java.nio.file.Path;
import java.util.Map;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.core.env.MapPropertySource;

/**
 * A HAPI FHIR R4 JPA server with an embedded H2 database, on Jetty, listening on loopback only.
 *
 * <pre>java -cp 'classes:lib/*' dev.tributary.fhirserver.Main &lt;port&gt; [database directory]</pre>
 *
 * The FHIR base is http://127.0.0.1:&lt;port&gt;/fhir. Without a directory the database lives in memory.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: Main <port> [database directory]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    String jdbcUrl =
        args.length > 1
            ? "jdbc:h2:file:" + Path.of(args[1]).toAbsolutePath().resolve("hapi")
            : "jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1";

    long started = System.nanoTime();
    AnnotationConfigApplicationContext spring = new AnnotationConfigApplicationContext();
    spring
        .getEnvironment()
        .getPropertySources()
        .addFirst(new MapPropertySource("main", Map.of("fhir.jdbc-url", jdbcUrl)));
    spring.register(FhirServerConfig.class);
    spring.refresh();

    Server jetty = new Server();
    ServerConnector http = new ServerConnector(jetty);
    http.setHost("127.0.0.1");
    http.setPort(port);
    jetty.addConnector(http);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    ServletHolder fhir = new ServletHolder("fhir", spring.getBean(RestfulServer.class));
    // Initialised at start-up, so the first request (the stack's health check) finds it ready.
    fhir.setInitOrder(1);
    context.addServlet(fhir, "/fhir/*");
    jetty.setHandler(context);
    jetty.setStopAtShutdown(false);
    jetty.start();

    // SIGTERM (the stack's stop) closes the database cleanly: an H2 file left open is recovered slowly.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    jetty.stop();
                  } catch (Exception e) {
                    e.printStackTrace();
                  }
                  spring.close();
                },
                "fhir-shutdown"));

    System.out.printf(
        "FHIR server ready at http://127.0.0.1:%d/fhir in %d ms%n",
        port, (System.nanoTime() - started) / 1_000_000);
    jetty.join();
  }
}
