-- One database per service (R-X-2); the image creates `compliance` itself.
CREATE DATABASE faq;
CREATE DATABASE chat;
CREATE DATABASE ads;
CREATE DATABASE affiliate;
