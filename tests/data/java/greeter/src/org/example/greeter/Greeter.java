package org.example.greeter;

/** A class for a jar that has a manifest but no Maven metadata. */
public final class Greeter {
    public static String greet(String name) {
        return "hello, " + name;
    }
}
