# meta-oe is in the build: add its trace-cmd to the profiling tools, to read
# the tracefs buffers by hand next to what `sorto trace` records itself.
RDEPENDS:${PN} += "trace-cmd"
