"""What a lab run leaves for people and CI systems to read.

Allure metadata (environment, categories), KTAP for kernel CI systems, the
per-CPU delivery plot, run timing, and the Allure 3 HTML report with its
rendering check.  Nothing here talks to a machine: it only turns results
the plugin collected into files.
"""
