#!/bin/sh
# Rebuilds the archives in archives/ from the sources next to this script.
# Needs a JDK (javac, jar; openjdk 17 was used) and Maven (3.8) able to run offline
# with maven-resources 3.3.1, compiler 3.13.0, surefire 3.2.5, jar 3.4.1 and shade
# 3.6.0 in its local repository. Timestamps are pinned, so rebuilding gives the same
# entries (Maven's project.build.outputTimestamp, jar --date).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/archives"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
date=2026-01-01T00:00:00Z
mkdir -p "$out"

# 1. Real Maven builds: two libraries, an app, and the app shaded with both libraries.
cp -r "$here/maven" "$work/maven"
(cd "$work/maven" && mvn -o -q -B package -DskipTests)
cp "$work/maven/lib-a/target/lib-a-1.2.3.jar" \
   "$work/maven/lib-b/target/lib-b-2.0.0-SNAPSHOT.jar" \
   "$work/maven/app/target/app-3.1.0.jar" \
   "$work/maven/app/target/app-3.1.0-shaded.jar" "$out/"

# 2. Jars made by the JDK jar tool with a manifest and no Maven metadata.
mkdir -p "$work/classes"
javac --release 17 -d "$work/classes" "$here/greeter/src/org/example/greeter/Greeter.java"
jar --create --date=$date --file "$out/greeter.jar" \
    --manifest "$here/greeter/MANIFEST.MF" -C "$work/classes" .
jar --create --date=$date --file "$out/widgets.jar" \
    --manifest "$here/greeter/bundle-MANIFEST.MF" -C "$work/classes" .

# 3. A war: Maven metadata of its own, libraries in WEB-INF/lib.
war="$work/war"
mkdir -p "$war/WEB-INF/lib" "$war/WEB-INF/classes" \
         "$war/META-INF/maven/com.example.web/webapp"
cp -r "$work/classes/." "$war/WEB-INF/classes/"
cp "$out/lib-a-1.2.3.jar" "$out/lib-b-2.0.0-SNAPSHOT.jar" "$out/greeter.jar" "$war/WEB-INF/lib/"
printf '<web-app version="4.0"/>\n' > "$war/WEB-INF/web.xml"
printf 'artifactId=webapp\ngroupId=com.example.web\nversion=1.0\n' \
    > "$war/META-INF/maven/com.example.web/webapp/pom.properties"
jar --create --date=$date --file "$out/webapp-1.0.war" -C "$war" .

# 4. A Spring Boot style executable jar: BOOT-INF/lib holds stored (uncompressed) jars.
boot="$work/boot"
mkdir -p "$boot/BOOT-INF/lib" "$boot/BOOT-INF/classes" \
         "$boot/META-INF/maven/com.example.boot/boot-app"
cp -r "$work/classes/." "$boot/BOOT-INF/classes/"
cp "$out/lib-a-1.2.3.jar" "$out/widgets.jar" "$boot/BOOT-INF/lib/"
printf 'artifactId=boot-app\ngroupId=com.example.boot\nversion=0.0.1-SNAPSHOT\n' \
    > "$boot/META-INF/maven/com.example.boot/boot-app/pom.properties"
printf 'Main-Class: org.springframework.boot.loader.JarLauncher\nStart-Class: org.example.greeter.Greeter\nSpring-Boot-Classes: BOOT-INF/classes/\nSpring-Boot-Lib: BOOT-INF/lib/\n' \
    > "$work/boot-MANIFEST.MF"
jar --create --no-compress --date=$date --file "$out/boot-app-0.0.1-SNAPSHOT.jar" \
    --manifest "$work/boot-MANIFEST.MF" -C "$boot" .

# 5. An ear: the war as a module (whose WEB-INF/lib nests one level deeper), lib/ jars.
ear="$work/ear"
mkdir -p "$ear/lib" "$ear/META-INF"
cp "$out/webapp-1.0.war" "$ear/"
cp "$out/app-3.1.0.jar" "$ear/lib/"
printf '<application version="8"><module><web><web-uri>webapp-1.0.war</web-uri></web></module></application>\n' \
    > "$ear/META-INF/application.xml"
jar --create --date=$date --file "$out/enterprise.ear" -C "$ear" .
