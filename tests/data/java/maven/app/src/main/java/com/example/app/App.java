package com.example.app; public final class App { public static void main(String[] args) { System.out.println(com.example.a.A.name() + com.example.b.B.name()); } }
