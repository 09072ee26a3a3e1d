// What the suite needs to know to build and run the seed's coupon service
// (FISA-Team-CE/tech-semina-msa, cloud-services/msa-coupon-service) from a
// checkout the user points at: where its sources are, the Maven pom that
// stands in for its Gradle build, and the Spring properties that stand in
// for its application.yml (the seed git-ignores that file, so a checkout has
// none). Pure, so it is unit-tested (bench/test/peer-seed.test.ts) without
// Maven; peer-coupon.ts builds and runs it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The Spring Boot the pom builds with. The seed's build.gradle says 3.5.10;
 * 3.5.7 is the 3.5 line Maven Central serves here, and the seed uses nothing
 * a patch release changes.
 */
export const peerSpringBootVersion = '3.5.7';

/** The jar's name: machine.ts knows the peer's JVM by it (its process group). */
export const peerJarName = 'peer-coupon.jar';

/** The process group the peer's JVM is counted under (machine.ts). */
export const peerProcessGroup = 'peer-coupon';

/**
 * Names the seed's code hard-codes (CouponService, CouponCreatedConsumer,
 * the Coupon entity): no property renames them, so a run cannot give them a
 * prefix of its own. They share nothing with ours (our keys are
 * `coupon:{<campaignId>}:…`, our topics `nuri.*`), and the run deletes them
 * before and after.
 */
export const peerFixedNames = {
  topic: 'coupon_issue',
  consumerGroup: 'coupon-group',
  /** Redis, database 0 (RedisConfig passes only host and port): the stock left. */
  stockKey: 'coupon:count',
  /** Redis, database 0: the set of users who got one. */
  usersKey: 'coupon:users',
  /** MySQL: one row per coupon the consumer saved (ddl-auto makes it). */
  table: 'coupons',
} as const;

/** The entry point that marks a directory as the seed's coupon service. */
const applicationSource = join('src', 'main', 'java', 'fisa', 'coupon', 'CouponApplication.java');
const serviceInCheckout = join('cloud-services', 'msa-coupon-service');

/**
 * The coupon service's directory: `dir` itself, or `dir`'s
 * cloud-services/msa-coupon-service when `dir` is the checkout's root.
 */
export function resolvePeerServiceDir(dir: string, exists: (path: string) => boolean = existsSync): string {
  const candidates = [resolve(dir), resolve(dir, serviceInCheckout)];
  const found = candidates.find((candidate) => exists(join(candidate, applicationSource)));
  if (found === undefined) {
    throw new Error(
      `--peer-src ${dir}: neither it nor its ${serviceInCheckout} holds ${applicationSource}; ` +
        'pass a checkout of github.com/FISA-Team-CE/tech-semina-msa (its root or its msa-coupon-service folder)',
    );
  }
  return found;
}

/**
 * The seed's build.gradle as a Maven pom: the same starters and libraries
 * (their versions from the Spring Boot parent, as Gradle's dependency
 * management took them), Java 17, Lombok as the annotation processor, and an
 * executable jar named for machine.ts. Its tests are not built (the suite
 * links only src/main), so the test libraries are left out.
 */
export function peerPom(): string {
  const dependency = (groupId: string, artifactId: string, extra = '') =>
    `    <dependency>\n      <groupId>${groupId}</groupId>\n      <artifactId>${artifactId}</artifactId>${extra}\n    </dependency>`;
  const dependencies = [
    dependency('org.springframework.boot', 'spring-boot-starter-data-jpa'),
    dependency('org.springframework.boot', 'spring-boot-starter-data-redis'),
    dependency('org.springframework.boot', 'spring-boot-starter-web'),
    dependency('org.springframework.boot', 'spring-boot-starter-actuator'),
    dependency('org.springframework.kafka', 'spring-kafka'),
    dependency('org.apache.commons', 'commons-pool2'),
    dependency('io.micrometer', 'micrometer-registry-prometheus'),
    dependency('org.projectlombok', 'lombok', '\n      <optional>true</optional>'),
    dependency('com.mysql', 'mysql-connector-j', '\n      <scope>runtime</scope>'),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by the Nuri Bank bench suite (bench/suite/peer-seed.ts) in a temporary folder:
     the seed's build.gradle (msa-coupon-service) as a Maven build. -->
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>${peerSpringBootVersion}</version>
    <relativePath/>
  </parent>
  <groupId>fisa</groupId>
  <artifactId>msa-coupon-service</artifactId>
  <version>0.0.1-SNAPSHOT</version>
  <description>fisa-ce-semina</description>
  <properties>
    <java.version>17</java.version>
  </properties>
  <dependencies>
${dependencies.join('\n')}
  </dependencies>
  <build>
    <finalName>${peerJarName.replace(/\.jar$/, '')}</finalName>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <configuration>
          <annotationProcessorPaths>
            <path>
              <groupId>org.projectlombok</groupId>
              <artifactId>lombok</artifactId>
              <version>\${lombok.version}</version>
            </path>
          </annotationProcessorPaths>
        </configuration>
      </plugin>
      <plugin>
        <groupId>org.springframework.boot</groupId>
        <artifactId>spring-boot-maven-plugin</artifactId>
        <configuration>
          <excludes>
            <exclude>
              <groupId>org.projectlombok</groupId>
              <artifactId>lombok</artifactId>
            </exclude>
          </excludes>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
`;
}

export interface PeerConnections {
  port: number;
  redis: { host: string; port: number };
  jdbc: { url: string; username: string; password: string };
  brokers: readonly string[];
}

/**
 * Where the seed's RedisConfig can connect: it builds its connection from
 * spring.data.redis.host and .port alone, so it reaches database 0 without a
 * password whatever else the URL says; a URL that needs more cannot be
 * served to it, and that is said rather than half-served.
 */
export function peerRedisOf(redisUrl: string): { host: string; port: number } {
  const url = new URL(redisUrl);
  if (url.protocol !== 'redis:') {
    throw new Error(`the seed's RedisConfig speaks plain redis:// only, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(
      "NURI_REDIS_URL carries credentials, but the seed's RedisConfig connects with host and port only",
    );
  }
  return { host: url.hostname, port: url.port === '' ? 6379 : Number(url.port) };
}

/** A JDBC URL and credentials for `database` on the server of NURI_MYSQL_URL. */
export function peerJdbcOf(mysqlUrl: string, database: string): PeerConnections['jdbc'] {
  const url = new URL(mysqlUrl);
  const port = url.port === '' ? 3306 : Number(url.port);
  return {
    url: `jdbc:mysql://${url.hostname}:${port}/${database}`,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

/**
 * The command-line properties the seed runs with, in place of the
 * application.yml it does not ship. Beyond where things are, three choices a
 * configuration has to make for it to work at all, each as the seed's own
 * files suggest: JSON on the coupon_issue topic (KafkaTemplate<String,
 * Object> sends a CouponIssueEvent, the listener takes one back; Spring's
 * defaults are strings), `ddl-auto=update` (its other services' example
 * configuration) and `earliest` (the topic is new each run, so the first
 * messages must not be skipped while the group forms). Hibernate finds the
 * MariaDB dialect itself through the seed's mysql-connector-j. Logging at
 * WARN, the level our services run at in the suite.
 */
export function peerArguments(connections: PeerConnections): string[] {
  const json = 'org.springframework.kafka.support.serializer';
  return [
    `--server.port=${connections.port}`,
    `--spring.data.redis.host=${connections.redis.host}`,
    `--spring.data.redis.port=${connections.redis.port}`,
    `--spring.datasource.url=${connections.jdbc.url}`,
    `--spring.datasource.username=${connections.jdbc.username}`,
    `--spring.datasource.password=${connections.jdbc.password}`,
    '--spring.jpa.hibernate.ddl-auto=update',
    `--spring.kafka.bootstrap-servers=${connections.brokers.join(',')}`,
    `--spring.kafka.producer.value-serializer=${json}.JsonSerializer`,
    `--spring.kafka.consumer.value-deserializer=${json}.JsonDeserializer`,
    '--spring.kafka.consumer.properties.spring.json.trusted.packages=fisa.coupon.dto',
    '--spring.kafka.consumer.auto-offset-reset=earliest',
    '--logging.level.root=WARN',
    '--management.endpoints.web.exposure.include=health',
  ];
}

/**
 * The JVM options of the seed's Dockerfile (its ENTRYPOINT), less
 * UseContainerSupport, which is the default and means nothing outside one.
 */
export const peerJvmOptions = ['-XX:MaxRAMPercentage=75.0', '-Djava.security.egd=file:/dev/./urandom'];
