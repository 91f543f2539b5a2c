include $(sort $(wildcard $(BR2_EXTERNAL_SORTO_PATH)/package/*/*.mk))

# Buildroot hands post-build scripts TARGET_DIR, HOST_DIR and BR2_CONFIG but
# not the cross tool prefix, and board/sorto/post-build.sh must run the
# target's objcopy (the one that wrote the binaries it marks).
export SORTO_TARGET_OBJCOPY = $(TARGET_OBJCOPY)
