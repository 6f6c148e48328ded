# Trains a small CNN on Fashion-MNIST classes 0-4 only (the bench-teach base classes) and exports its trunk
# (image -> 128 values) to ONNX for `--feature-stage`; see README.md here.
import gzip, numpy as np, torch, time, sys
torch.set_num_threads(1); torch.manual_seed(1)
D='/work/shared/data/fashion-mnist/'
def images(f): return np.frombuffer(gzip.open(D+f).read(), np.uint8, offset=16).reshape(-1,1,28,28).astype(np.float32)/255
def labels(f): return np.frombuffer(gzip.open(D+f).read(), np.uint8, offset=8).astype(np.int64)
xtr, ytr = images('train-images-idx3-ubyte.gz'), labels('train-labels-idx1-ubyte.gz')
xte, yte = images('t10k-images-idx3-ubyte.gz'), labels('t10k-labels-idx1-ubyte.gz')
keep = ytr < 5; xtr, ytr = xtr[keep], ytr[keep]
kt = yte < 5
MEAN, STD = 0.5, 0.35
def block(i, o): return [torch.nn.Conv2d(i, o, 3, padding=1, bias=False), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]
trunk = torch.nn.Sequential(*block(1, 32), torch.nn.MaxPool2d(2), *block(32, 64), torch.nn.MaxPool2d(2), *block(64, 128), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
head = torch.nn.Linear(128, 5)
model = torch.nn.Sequential(trunk, head)
opt = torch.optim.Adam(model.parameters(), 2e-3)
X = torch.from_numpy((xtr - MEAN) / STD); Y = torch.from_numpy(ytr)
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=EPOCHS * (len(X) // 128 + 1))
for e in range(EPOCHS):
    t0 = time.process_time(); model.train(); perm = torch.randperm(len(X))
    for i in range(0, len(X), 128):
        idx = perm[i:i+128]; xb = X[idx]
        flip = torch.rand(len(xb)) < 0.5; xb[flip] = xb[flip].flip(3)
        loss = torch.nn.functional.cross_entropy(model(xb), Y[idx])
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    model.eval()
    with torch.no_grad(): acc = (model(torch.from_numpy((xte[kt]-MEAN)/STD)).argmax(1).numpy() == yte[kt]).mean()
    print(f'epoch {e+1}: loss {loss.item():.3f} test(0-4) {acc:.4f} {time.process_time()-t0:.1f}s CPU', flush=True)
trunk.eval()
torch.onnx.export(trunk, torch.zeros(1,1,28,28), 'fashion04_cnn.onnx', input_names=['image'], output_names=['features'], dynamic_axes={'image':{0:'batch'},'features':{0:'batch'}}, opset_version=13)
print('exported; mean', MEAN, 'std', STD)
