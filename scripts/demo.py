"""Demo: generated videos -> records -> a non-local model -> a served answer.

The program is `nonlocal_tf.programs.demo` (also installed as the console
command `nonlocal-demo`); `python scripts/demo.py --help` shows its examples,
its six steps and its flags.
"""

from nonlocal_tf.programs import demo

if __name__ == "__main__":
    demo.run()
