// The main VGG-16 and ResNet-50 convolution shapes, at batch 1, shared by the conv benchmarks
// (bench/conv.ts, bench/gpu.ts).
export interface Layer { name: string; c: number; hw: number; k: number; kernel: number; stride: number; pad: number }

export const LAYERS: Layer[] = [
  { name: 'vgg conv1_2', c: 64, hw: 224, k: 64, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv2_2', c: 128, hw: 112, k: 128, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv3_2', c: 256, hw: 56, k: 256, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv4_2', c: 512, hw: 28, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv5_2', c: 512, hw: 14, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet conv1 7x7/2', c: 3, hw: 224, k: 64, kernel: 7, stride: 2, pad: 3 },
  { name: 'resnet 1x1 64→256', c: 64, hw: 56, k: 256, kernel: 1, stride: 1, pad: 0 },
  { name: 'resnet 3x3 64', c: 64, hw: 56, k: 64, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 256→128 /2', c: 256, hw: 56, k: 128, kernel: 1, stride: 2, pad: 0 },
  { name: 'resnet 3x3 128', c: 128, hw: 28, k: 128, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 3x3 256', c: 256, hw: 14, k: 256, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 1024→256', c: 1024, hw: 14, k: 256, kernel: 1, stride: 1, pad: 0 },
  { name: 'resnet 3x3 512', c: 512, hw: 7, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 512→2048', c: 512, hw: 7, k: 2048, kernel: 1, stride: 1, pad: 0 },
];
