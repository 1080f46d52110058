"""Layer 2, time: clocks, timers, the one-shot future, the virtual-time scheduler."""
